"""The per-run summary of each numeric metric (count, last, min, max) in the table
``run_metric_summary``, so a run table can show and sort by metric columns with one join
instead of reading every run's metrics file.

A run's rows are (re)computed from its metrics file by :func:`refresh`: once when the run
reaches a terminal status (:meth:`serving.runs.store.RunStore.set_status`), and lazily by
the studio for runs that lack them (finished before this table existed) or are still
running (:func:`stale`, :func:`refresh_within`: a bounded number of runs and of bytes read
per page; a lazy refresh never overwrites the rows of a later one). A run's rows are
replaced in one transaction, so a reader never sees half of them. NaN and infinities are kept out of
``min`` and ``max`` (SQLite has no NaN); a last value that is not finite is stored as NULL.
A run without numeric metrics gets one row named ``""`` (:data:`NONE`, count 0), so that
"computed, nothing to show" differs from "never computed" and a page does not recompute
such a run at every view.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from serving.registry.db import Database
from serving.runs import metrics as m

log = logging.getLogger("serving.runs")

NONE = ""
"""The name of the row that marks a run whose metrics file has no numeric series."""
ACTIVE_REFRESH = timedelta(seconds=15)
"""A running run's summary older than this is recomputed when a page shows it."""


@dataclass
class MetricSummary:
    """One numeric metric of one run."""

    count: int = 0
    last: float | None = None
    min: float | None = None
    max: float | None = None

    def add(self, value: float) -> None:
        self.count += 1
        finite = math.isfinite(value)
        self.last = value if finite else None
        if finite:
            self.min = value if self.min is None else min(self.min, value)
            self.max = value if self.max is None else max(self.max, value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def compute(path: Path) -> dict[str, MetricSummary]:
    """The summary of every numeric series in a metrics file (one pass, no points kept)."""
    out: dict[str, MetricSummary] = {}
    for record in m.records(path):
        for value in m.numbers(record):
            out.setdefault(str(record["n"]), MetricSummary()).add(float(value))
    return out


def store(
    db: Database, run_id: str, found: dict[str, MetricSummary], read_since: str | None = None
) -> bool:
    """Replace the run's rows with ``found`` in one transaction; returns whether it did.
    With ``read_since`` (when the file was read), rows written after that stand: they were
    computed from a later file (the refresh at the run's end racing a page's lazy one)."""
    stamp = _now()
    with db.write() as conn:
        if read_since is not None:
            newer = conn.execute(
                "SELECT 1 FROM run_metric_summary WHERE run_id = ? AND updated_at >= ? LIMIT 1",
                (run_id, read_since),
            ).fetchone()
            if newer is not None:
                return False
        conn.execute("DELETE FROM run_metric_summary WHERE run_id = ?", (run_id,))
        conn.executemany(
            "INSERT INTO run_metric_summary (run_id, name, count, last, min, max, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run_id, n, s.count, s.last, s.min, s.max, stamp) for n, s in found.items()]
            or [(run_id, NONE, 0, None, None, None, stamp)],
        )
    return True


def refresh(db: Database, run_id: str, path: Path, *, lazy: bool = False) -> None:
    """Recompute the run's summary from its metrics file. A failure is logged, never
    raised: a summary is a cache, and the run's status change that asked for it stands.
    A ``lazy`` refresh (a page's) never replaces rows written after it read the file."""
    try:
        started = _now() if lazy else None
        store(db, run_id, compute(path), read_since=started)
    except (OSError, sqlite3.Error) as exc:
        log.warning("metric summary of run %s not refreshed: %s", run_id, exc)


def _has_summary(db: Database, run_id: str) -> bool:
    with db.read() as conn:
        row = conn.execute(
            "SELECT 1 FROM run_metric_summary WHERE run_id = ? LIMIT 1", (run_id,)
        ).fetchone()
    return row is not None


def refresh_within(db: Database, runs: Sequence[tuple[str, Path]], max_bytes: int) -> int:
    """Lazily refresh those of ``runs`` (id, metrics file), in order, whose files fit in
    ``max_bytes`` together; returns how many were. A file over the budget is skipped,
    except the first run's when it has no summary at all (once: it then has one, kept
    until the run ends). Bounds the work a page view does for runs whose summaries are
    missing or old."""
    spent, done = 0, 0
    for run_id, path in runs:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if spent + size > max_bytes and (done or _has_summary(db, run_id)):
            continue
        refresh(db, run_id, path, lazy=True)
        spent, done = spent + size, done + 1
    return done


def stale(db: Database, runs: Iterable[tuple[str, bool]], limit: int) -> list[str]:
    """Of ``runs`` (id, ended), at most ``limit`` whose summary should be recomputed: ended
    runs without one, running runs whose summary is older than :data:`ACTIVE_REFRESH`."""
    pairs = list(runs)
    if not pairs or limit <= 0:
        return []
    marks = ",".join("?" * len(pairs))
    with db.read() as conn:
        rows = conn.execute(
            f"SELECT run_id, MIN(updated_at) FROM run_metric_summary WHERE run_id IN ({marks})"
            " GROUP BY run_id",
            [run_id for run_id, _ended in pairs],
        ).fetchall()
    updated = {row[0]: row[1] for row in rows}
    cutoff = (datetime.now(UTC) - ACTIVE_REFRESH).isoformat(timespec="milliseconds")
    out = []
    for run_id, ended in pairs:
        stamp = updated.get(run_id)
        if (ended and stamp is None) or (not ended and (stamp is None or stamp < cutoff)):
            out.append(run_id)
    return out[:limit]


def lasts(
    db: Database, run_ids: Sequence[str], names: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """``{run_id: {name: last value}}`` of the given runs and metric names."""
    if not run_ids or not names:
        return {}
    ids, keys = ",".join("?" * len(run_ids)), ",".join("?" * len(names))
    with db.read() as conn:
        rows = conn.execute(
            f"SELECT run_id, name, last FROM run_metric_summary WHERE run_id IN ({ids})"
            f" AND name IN ({keys})",
            [*run_ids, *names],
        ).fetchall()
    out: dict[str, dict[str, float | None]] = {}
    for row in rows:
        out.setdefault(row[0], {})[row[1]] = row[2]
    return out


def names_in_experiment(db: Database, experiment: str, limit: int = 50) -> list[str]:
    """The numeric metric names the experiment's top-level runs logged (alphabetical).
    Each name of the workspace is checked with an EXISTS that stops at its first run, on
    the (name, last) index, instead of a DISTINCT over every run of the experiment."""
    with db.read() as conn:
        rows = conn.execute(
            "SELECT n.name FROM (SELECT DISTINCT name FROM run_metric_summary WHERE name != '') n"
            " WHERE EXISTS (SELECT 1 FROM run_metric_summary s JOIN runs r ON r.id = s.run_id"
            " JOIN experiments e ON e.id = r.experiment_id"
            " WHERE s.name = n.name AND e.name = ? AND r.parent_id IS NULL)"
            " ORDER BY n.name LIMIT ?",
            (experiment, limit),
        ).fetchall()
    return [row[0] for row in rows]
