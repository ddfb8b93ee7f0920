"""Data files as pandas DataFrames, the reader chosen by the file's suffix (CSV, TSV,
JSON Lines, JSON, Parquet with pyarrow); pandas does the reading, nothing here by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from serving.errors import UserInputError

SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet", ".pq")


def read_path(path: Path) -> Any:
    """A file, or every readable file in a folder stacked (by name)."""
    import pandas as pd

    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise UserInputError(f"no {', '.join(SUFFIXES)} file in {path}")
        return pd.concat([read_file(p) for p in files], ignore_index=True)
    return read_file(path)


def read_file(path: Path) -> Any:
    """One data file as a DataFrame, by its suffix; a one-line error when it does not read."""
    import pandas as pd

    suffix = path.suffix.lower()
    readers: dict[str, Callable[[], Any]] = {
        ".csv": lambda: pd.read_csv(path),
        ".tsv": lambda: pd.read_csv(path, sep="\t"),
        ".jsonl": lambda: pd.read_json(path, lines=True),
        ".ndjson": lambda: pd.read_json(path, lines=True),
        ".json": lambda: _read_json(path),
        ".parquet": lambda: _read_parquet(path),
        ".pq": lambda: _read_parquet(path),
    }
    if suffix not in readers:
        raise UserInputError(
            f"cannot read baseline {path.name}: unknown type {suffix or '(no suffix)'}",
            hint=f"use one of {', '.join(SUFFIXES)}",
        )
    try:
        return readers[suffix]()
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise UserInputError(f"cannot read baseline {path}: {reason}") from None


def _read_json(path: Path) -> Any:
    """A JSON file: a list of row objects, ``{"data": rows, "feature_names": [...]}`` or
    ``{column: [values]}`` (what pandas reads)."""
    import json

    import pandas as pd

    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if isinstance(data, dict) and "data" in data:
        return pd.DataFrame(data["data"], columns=data.get("feature_names"))
    return pd.DataFrame(data)


def _read_parquet(path: Path) -> Any:
    import pandas as pd

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UserInputError(
            f"cannot read baseline {path.name}: Parquet needs pyarrow, which is not installed",
            hint="pip install pyarrow, or give CSV or JSON Lines",
        ) from None
    return pd.read_parquet(path)
