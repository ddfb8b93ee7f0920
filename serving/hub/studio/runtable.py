"""The runs table of one experiment: top-level runs sorted by created time, status,
duration or a metric's last value, a page at a time with keyset paging.

Every sort is a tuple ``(missing, value, created_at, number, id)``: ``missing`` puts runs
without a value (no metric, not ended) last in either direction, and the tail makes the
order total, so the next page starts strictly after the last row of this one (a deep page
costs what the first does, and runs created meanwhile shift nothing), as
:meth:`RunStore.list` does for created time. Metric values come from
``run_metric_summary`` (see :mod:`serving.runs.summary`) with one join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serving.errors import UserInputError
from serving.hub import paging
from serving.registry.db import Database

SORTS = ("created", "status", "duration")
METRIC_PREFIX = "metric:"
_EXPR = {
    "created": "0",
    "status": "runs.status",
    "duration": "(julianday(runs.ended_at) - julianday(runs.started_at)) * 86400.0",
}


@dataclass(frozen=True)
class Sort:
    """A column (``created``, ``status``, ``duration`` or ``metric:NAME``) and direction."""

    column: str
    descending: bool

    @classmethod
    def parse(cls, column: str | None, direction: str | None) -> Sort:
        column = column or "created"
        if column not in SORTS and not (
            column.startswith(METRIC_PREFIX) and len(column) > len(METRIC_PREFIX)
        ):
            raise UserInputError(
                f"cannot sort by {column!r}: use created, status, duration or metric:NAME"
            )
        if direction not in (None, "", "asc", "desc"):
            raise UserInputError(f"direction must be asc or desc, not {direction!r}")
        return cls(column, direction != "asc")

    @property
    def metric(self) -> str | None:
        return self.column[len(METRIC_PREFIX) :] if self.column.startswith(METRIC_PREFIX) else None


def _query(sort: Sort, after: list[Any] | None, limit: int) -> tuple[str, str]:
    expr = "s.last" if sort.metric is not None else _EXPR[sort.column]
    missing = f"({expr} IS {'NOT ' if sort.descending else ''}NULL)"
    parts = [missing, f"COALESCE({expr}, 0)", "runs.created_at", "runs.number", "runs.id"]
    key = ", ".join(parts)
    join = (
        " LEFT JOIN run_metric_summary s ON s.run_id = runs.id AND s.name = :metric"
        if sort.metric is not None
        else ""
    )
    where = "experiments.name = :experiment AND runs.parent_id IS NULL"
    if after is not None:
        where += f" AND ({key}) {'<' if sort.descending else '>'} (:k0, :k1, :k2, :k3, :k4)"
    way = "DESC" if sort.descending else "ASC"
    order = ", ".join(f"{part} {way}" for part in parts)
    sql = (
        f"SELECT runs.id, {key} FROM runs JOIN experiments ON experiments.id ="
        f" runs.experiment_id{join} WHERE {where} ORDER BY {order} LIMIT {int(limit) + 1}"
    )
    return sql, key


def _after(token: str) -> list[Any]:
    """A page token's key ``[missing, value, created_at, number, id]``, checked."""
    key = paging.decode(token)
    if not (
        len(key) == 5
        and key[0] in (0, 1)
        and (key[1] is None or isinstance(key[1], (int, float, str)))
        and isinstance(key[2], str)
        and isinstance(key[3], int)
        and isinstance(key[4], str)
    ):
        raise UserInputError("the page token (after) is not one this server gave")
    return key


def page(
    db: Database, experiment: str, sort: Sort, after_token: str | None, limit: int
) -> tuple[list[str], str | None]:
    """The run ids of one page in order, and the token of the next page (or None)."""
    after = _after(after_token) if after_token else None
    sql, _key = _query(sort, after, limit)
    args: dict[str, Any] = {"experiment": experiment, "metric": sort.metric}
    if after is not None:
        args.update({f"k{i}": value for i, value in enumerate(after)})
    with db.read() as conn:
        rows = conn.execute(sql, args).fetchall()
    ids = [row[0] for row in rows[:limit]]
    token = None
    if len(rows) > limit:
        last = rows[limit - 1]
        token = paging.encode([last[1], last[2], last[3], last[4], last[5]])
    return ids, token
