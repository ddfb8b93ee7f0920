"""The inputs an endpoint collected (``ModelDataCollector``, designation ``inputs``) as one
table, read from the default datastore in the layout of
:mod:`serving.scoring.collection.layout` (which also turns each record into rows).

Records from every model and version of the endpoint are pooled: drift is about what the
endpoint is sent, whichever model answered. A record whose data cannot be turned into rows
is counted and skipped, never fatal (the collector writes what ``score.py`` hands it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from serving.errors import NotFoundError, UserInputError
from serving.scoring.collection import layout

DESIGNATION = "inputs"

Progress = Callable[[int, int], None]
"""Called as ``progress(bytes_read, total_bytes)`` while the record files are read."""


@dataclass
class Collected:
    """The pooled rows and where they came from."""

    frame: Any
    """A pandas DataFrame, one column per feature name."""
    records: int
    files: int
    skipped: int
    models: list[str]
    """``name:version`` of every model whose inputs are pooled."""
    first: datetime | None
    last: datetime | None


def read_collected(
    root: Path, endpoint: str, since: datetime, progress: Progress | None = None
) -> Collected:
    """Every input row ``endpoint`` collected under ``root`` from ``since`` on."""
    import pandas as pd

    files = layout.record_files(root, endpoint, designation=DESIGNATION, since=since)
    if not files:
        raise _nothing(endpoint, since, "no collected inputs")
    total, done = sum(_size(path) for path in files), 0
    rows: list[dict[str, Any]] = []
    records = skipped = 0
    models: set[str] = set()
    times: list[datetime] = []

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    for path in files:
        for record in _records(path, since, advance):
            try:
                found = layout.record_rows(record)
                times.append(layout.record_time(record))
            except (TypeError, ValueError, KeyError, AttributeError):
                skipped += 1
                continue
            records += 1
            rows.extend(found)
            models.add(f"{record.get('model_name')}:{record.get('model_version')}")
    if not rows:
        raise _nothing(endpoint, since, "no input rows collected")
    return Collected(
        frame=pd.DataFrame.from_records(rows),
        records=records,
        files=len(files),
        skipped=skipped,
        models=sorted(models),
        first=min(times, default=None),
        last=max(times, default=None),
    )


def _records(
    path: Path, since: datetime, advance: Callable[[int], None]
) -> Iterator[dict[str, Any]]:
    """:func:`layout.read_file`'s records from ``since`` on; a file removed since it was
    listed has none, one that cannot be read is the user's to fix."""
    try:
        yield from layout.read_file(path, since, advance)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserInputError(f"cannot read collected data {path}: {exc.strerror}") from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _nothing(endpoint: str, since: datetime, what: str) -> NotFoundError:
    return NotFoundError(
        f"{what} for endpoint {endpoint!r} since {since.isoformat(timespec='seconds')}",
        hint="deploy with --collect-model-data, collect with "
        "ModelDataCollector(..., designation='inputs') in score.py, or widen --window",
    )
