"""A registered dataset (``Dataset.register``) as a baseline DataFrame.

The stored definition and the files it names come from :mod:`serving.runs.datasets`, the
reader the SDK's ``Dataset`` uses too. Tabular datasets are read as delimited files with
their separator and header; file datasets by each file's suffix. Datasets of http(s) URLs
are refused: a drift check downloads nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serving.errors import NotFoundError, UserInputError
from serving.monitor.files import read_path
from serving.runs import datasets
from serving.workspace import Workspace


def _files(ws: Workspace, store: str | None, path: str) -> list[Path]:
    if datasets.is_url(store, path):
        raise UserInputError(f"dataset path {path} is a URL: download it and pass the file")
    return datasets.local_files(datasets.path_of(ws, store, path))


def dataset_frame(ws: Workspace, name: str, version: int | None) -> Any:
    """The rows of dataset ``name`` (its latest version without ``version``)."""
    import pandas as pd

    definition = datasets.find(ws, name, version, hint="register it with Dataset.register")
    files = [f for store, path in definition.paths for f in _files(ws, store, path)]
    if not files:
        raise NotFoundError(f"dataset {name} matches no file: {definition.paths}")
    if definition.kind == datasets.TABULAR:
        header = 0 if definition.header else None
        sep = definition.separator or ","
        try:
            frames = [pd.read_csv(f, sep=sep, header=header) for f in files]
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            reason = " ".join(str(exc).split())
            raise UserInputError(f"cannot read dataset {name}: {reason}") from None
    else:
        frames = [read_path(f) for f in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
