"""Experiments and runs in the workspace: rows in the metadata database plus one folder
per run (``runs/<run id>/``) that ordinary tools can inspect, copy or sync::

    runs/<id>/snapshot/      the source folder as submitted (its content hash is the
                             snapshot id)
    runs/<id>/outputs/       the script's ./outputs, collected when the run ends
    runs/<id>/logs/          the script's ./logs, written live
    runs/<id>/user_logs/std_log.txt   the script's stdout and stderr
    runs/<id>/system_logs/   the supervisor's own log (environment preparation, exit)
    runs/<id>/metrics.jsonl  every logged metric, one JSON line each, append-only
    runs/<id>/<other>        files uploaded with run.upload_file / upload_folder

Everything below ``runs/<id>/`` except ``snapshot/``, ``metrics.jsonl`` and the hidden
working copy is an artifact of the run (``run.get_file_names()``).

Status changes go through :meth:`RunStore.set_status`, which never moves a run out of a
terminal status: the first of Completed, Failed or Canceled wins a race. A run whose
supervisor died without recording an end is found out by :meth:`RunStore.reconcile`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving.errors import NotFoundError, UserInputError
from serving.proc import ProcessRef, is_running
from serving.registry.db import Database
from serving.runs import records as rec
from serving.runs import summary
from serving.runs.records import RunRecord

RUNS_DIR = "runs"
METRICS_FILE = "metrics.jsonl"
SNAPSHOT_DIR = "snapshot"
WORK_DIR = ".work"
STD_LOG = "user_logs/std_log.txt"
SYSTEM_LOG = "system_logs/supervisor.txt"
NOT_ARTIFACTS = frozenset({SNAPSHOT_DIR, METRICS_FILE, WORK_DIR, "run.json"})
STARTUP_GRACE_S = 120.0
"""A run NotStarted this long with no supervisor recorded was abandoned by its submitter."""

_JSON = ("definition", "tags", "properties", "supervisor", "error", "warnings")


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _age_s(stamp: str) -> float:
    try:
        return time.time() - datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0


def _record(row: sqlite3.Row) -> RunRecord:
    values = {key: row[key] for key in row.keys() if key != "experiment_id"}  # noqa: SIM118
    for key in _JSON:
        values[key] = json.loads(values[key]) if values[key] is not None else None
    values["experiment"] = row["experiment"]
    return RunRecord(**values)


_SELECT = (
    "SELECT runs.*, experiments.name AS experiment FROM runs"
    " JOIN experiments ON experiments.id = runs.experiment_id"
)


class RunStore:
    """Runs of one workspace (``root`` is the workspace folder)."""

    def __init__(self, root: Path, db: Database) -> None:
        self.root = Path(root)
        self.db = db

    # -- folders ---------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise UserInputError(f"{run_id!r} is not a run id")
        return self.root / RUNS_DIR / run_id

    def metrics_file(self, run_id: str) -> Path:
        return self.run_dir(run_id) / METRICS_FILE

    # -- experiments -----------------------------------------------------------------------
    def experiment_id(self, conn: sqlite3.Connection, name: str, *, create: bool) -> int:
        row = conn.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            raise NotFoundError(f"experiment {name} not found")
        rec.check_experiment_name(name)
        cur = conn.execute(
            "INSERT INTO experiments (name, created_at) VALUES (?, ?)", (name, now_text())
        )
        return int(cur.lastrowid or 0)

    def ensure_experiment(self, name: str) -> None:
        rec.check_experiment_name(name)
        with self.db.write() as conn:
            self.experiment_id(conn, name, create=True)

    def experiments(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT e.name, e.created_at, e.tags, COUNT(r.id) AS runs,"
                " MAX(r.created_at) AS last_run FROM experiments e"
                " LEFT JOIN runs r ON r.experiment_id = e.id AND r.parent_id IS NULL"
                " GROUP BY e.id ORDER BY e.name"
            ).fetchall()
        return [
            {
                "name": r["name"],
                "created_at": r["created_at"],
                "tags": json.loads(r["tags"]),
                "runs": r["runs"],
                "last_run": r["last_run"],
            }
            for r in rows
        ]

    def experiment_tags(self, name: str, tags: Mapping[str, Any]) -> None:
        with self.db.write() as conn:
            row = conn.execute("SELECT tags FROM experiments WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"experiment {name} not found")
            merged = {**json.loads(row[0]), **tags}
            conn.execute(
                "UPDATE experiments SET tags = ? WHERE name = ?", (json.dumps(merged), name)
            )

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment: str,
        *,
        kind: str,
        target: str,
        definition: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        parent_id: str | None = None,
        display_name: str | None = None,
        status: str = rec.NOT_STARTED,
    ) -> RunRecord:
        """A new run row and its folder (the folder first: a row always has one)."""
        run_id = run_id or rec.new_run_id(experiment)
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        with self.db.write() as conn:
            exp_id = self.experiment_id(conn, experiment, create=True)
            number = int(
                conn.execute(
                    "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE experiment_id = ?",
                    (exp_id,),
                ).fetchone()[0]
            )
            conn.execute(
                "INSERT INTO runs (id, experiment_id, number, parent_id, kind, status, target,"
                " display_name, definition, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    exp_id,
                    number,
                    parent_id,
                    kind,
                    status,
                    target,
                    display_name,
                    json.dumps(dict(definition or {}), default=str),
                    now_text(),
                ),
            )
        return self.get(run_id)

    def get(self, run_id: str) -> RunRecord:
        with self.db.read() as conn:
            row = conn.execute(f"{_SELECT} WHERE runs.id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"run {run_id} not found")
        return _record(row)

    def get_many(self, ids: list[str]) -> list[RunRecord]:
        """The runs ``ids``, reconciled, in that order (unknown ids left out), read with one
        query: a table page of runs costs one connection, not one per row."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self.db.read() as conn:
            rows = conn.execute(f"{_SELECT} WHERE runs.id IN ({marks})", ids).fetchall()
        found = {row["id"]: _record(row) for row in rows}
        return [self.reconcile(found[i]) for i in ids if i in found]

    def find(self, run_id: str) -> RunRecord:
        """The run, reconciled (a dead supervisor's run is Failed)."""
        return self.reconcile(self.get(run_id))

    def list(
        self,
        *,
        experiment: str | None = None,
        parent_id: str | None = None,
        top_level: bool = False,
        status: str | None = None,
        target: str | None = None,
        limit: int | None = None,
        after: tuple[str, int, str] | None = None,
        oldest_first: bool = False,
    ) -> list[RunRecord]:
        """Runs, newest first (``oldest_first``: the other way). ``after`` is the
        (created_at, number, id) of the last run of the previous page: keyset paging, so a
        page costs the same however deep it is and runs created meanwhile shift nothing."""
        where: list[str] = []
        args: list[object] = []
        if after is not None:
            where.append(
                f"(runs.created_at, runs.number, runs.id) {'>' if oldest_first else '<'} (?, ?, ?)"
            )
            args.extend(after)
        if experiment is not None:
            where.append("experiments.name = ?")
            args.append(experiment)
        if parent_id is not None:
            where.append("runs.parent_id = ?")
            args.append(parent_id)
        elif top_level:
            where.append("runs.parent_id IS NULL")
        if status is not None:
            where.append("runs.status = ?")
            args.append(status)
        if target is not None:
            where.append("runs.target = ?")
            args.append(target)
        query = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        way = "ASC" if oldest_first else "DESC"
        query += f" ORDER BY runs.created_at {way}, runs.number {way}, runs.id {way}"
        if limit:
            query += f" LIMIT {int(limit)}"
        with self.db.read() as conn:
            rows = conn.execute(query, tuple(args)).fetchall()
        return [self.reconcile(_record(r)) for r in rows]

    # -- changes ---------------------------------------------------------------------------
    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        error: Mapping[str, Any] | None = None,
        warnings: Iterable[str] = (),
    ) -> bool:
        """Move the run to ``status``; False (nothing changed) when it already ended."""
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT status, warnings FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            if row["status"] in rec.TERMINAL:
                return False
            sets = {"status": status}
            if status == rec.RUNNING:
                sets["started_at"] = now_text()
            if status in rec.TERMINAL:
                sets["ended_at"] = now_text()
            if error is not None:
                sets["error"] = json.dumps(dict(error))
            extra = list(warnings)
            if extra:
                sets["warnings"] = json.dumps([*json.loads(row["warnings"]), *extra])
            assigns = ", ".join(f"{key} = ?" for key in sets)
            conn.execute(f"UPDATE runs SET {assigns} WHERE id = ?", (*sets.values(), run_id))
            if status == rec.RUNNING:
                conn.execute(
                    "UPDATE runs SET started_at = COALESCE(started_at, ?) WHERE id = ?",
                    (now_text(), run_id),
                )
        if status in rec.TERMINAL:
            summary.refresh(self.db, run_id, self.metrics_file(run_id))
        return True

    def update_json(
        self, run_id: str, column: str, changes: Mapping[str, Any], *, write_once: bool = False
    ) -> dict[str, Any]:
        """Merge ``changes`` into a JSON column (tags, properties, supervisor, definition);
        with ``write_once`` keys already there keep their value. Returns the new value."""
        if column not in ("tags", "properties", "supervisor", "definition"):
            raise ValueError(column)
        with self.db.write() as conn:
            row = conn.execute(f"SELECT {column} FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            current = json.loads(row[0])
            for key, value in changes.items():
                if not (write_once and key in current):
                    current[key] = value
            conn.execute(
                f"UPDATE runs SET {column} = ? WHERE id = ?",
                (json.dumps(current, default=str), run_id),
            )
        return dict(current)

    def amend_error(self, run_id: str, changes: Mapping[str, Any]) -> None:
        """Merge ``changes`` into the run's error, whatever its status (the reason a run
        was canceled, named by whoever asked for it)."""
        with self.db.write() as conn:
            row = conn.execute("SELECT error FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            error = {**(json.loads(row[0]) if row[0] else {}), **changes}
            conn.execute("UPDATE runs SET error = ? WHERE id = ?", (json.dumps(error), run_id))

    def remove_tags(self, run_id: str, keys: Iterable[str]) -> None:
        with self.db.write() as conn:
            row = conn.execute("SELECT tags FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            tags = {k: v for k, v in json.loads(row[0]).items() if k not in set(keys)}
            conn.execute("UPDATE runs SET tags = ? WHERE id = ?", (json.dumps(tags), run_id))

    def set_snapshot(self, run_id: str, snapshot_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE runs SET snapshot_id = ? WHERE id = ?", (snapshot_id, run_id))

    # -- liveness --------------------------------------------------------------------------
    def reconcile(self, record: RunRecord) -> RunRecord:
        """A run owned by a supervisor process (script runs, and the drivers of sweeps and
        pipelines) whose supervisor is gone without recording an end is Failed."""
        if record.terminal or record.kind in (rec.INTERACTIVE, rec.CHILD):
            return record  # those are ended by their owner's calls, not a supervisor
        ref = ProcessRef.from_dict(record.supervisor.get("process") or {})
        if ref is None:
            if _age_s(record.created_at) < STARTUP_GRACE_S:
                return record
            reason = "the run was never started (its submitter ended before starting it)"
        elif is_running(ref):
            return record
        else:
            time.sleep(0.2)  # it may be writing its last status right now
            fresh = self.get(record.id)
            if fresh.terminal:
                return fresh
            reason = "the run's supervisor process ended without recording the run's end"
        self.set_status(record.id, rec.FAILED, error={"code": "SupervisorLost", "message": reason})
        return self.get(record.id)
