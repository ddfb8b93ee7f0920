"""The baseline a drift report compares against, as a pandas DataFrame.

``--baseline`` spellings (an existing file or folder of that name always wins):

- ``PATH``: a file (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``, ``.json``, ``.parquet``
  with pyarrow) or a folder of such files (read in name order and stacked);
- ``dataset:NAME[:VERSION]``: a registered dataset (:mod:`serving.monitor.datasets`);
- ``run:RUN_ID[:PATH]``: a training run's data: ``PATH`` among the run's outputs
  (``run:abc123:outputs/train.csv``), or without ``PATH`` the run's one input data
  reference (the datastore file or folder the run was given).

Files are read by :mod:`serving.monitor.files` (pandas).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serving.errors import NotFoundError, UserInputError
from serving.monitor.datasets import dataset_frame
from serving.monitor.files import read_path
from serving.runs.artifacts import artifact_path
from serving.runs.datarefs import DataReferenceConfig
from serving.runs.datastores import DatastoreStore, locate
from serving.runs.errors import UserErrorException
from serving.runs.store import RunStore
from serving.workspace import Workspace

DATASET_PREFIX = "dataset:"
RUN_PREFIX = "run:"


def load_baseline(ws: Workspace, spec: str) -> Any:
    """The baseline ``spec`` names (see the module docstring), never empty."""
    text = spec.strip()
    if not text:
        raise UserInputError("--baseline is empty: give a file, dataset:NAME or run:RUN_ID")
    if Path(text).exists():
        frame = read_path(Path(text))
    elif text.startswith(DATASET_PREFIX):
        frame = _dataset(ws, text[len(DATASET_PREFIX) :])
    elif text.startswith(RUN_PREFIX):
        frame = read_path(run_data(ws, text[len(RUN_PREFIX) :]))
    else:
        raise NotFoundError(
            f"baseline {text!r} not found",
            hint="give a file or folder, dataset:NAME[:VERSION] or run:RUN_ID[:PATH]",
        )
    if frame is None or len(frame) == 0 or len(frame.columns) == 0:
        raise UserInputError(f"baseline {text!r} holds no rows")
    return frame


def _dataset(ws: Workspace, ref: str) -> Any:
    name, _, version = ref.partition(":")
    if not name:
        raise UserInputError("dataset baseline needs a name: dataset:NAME[:VERSION]")
    if version and not version.isdigit():
        raise UserInputError(f"dataset version {version!r} is not a number")
    return dataset_frame(ws, name, int(version) if version else None)


def run_data(ws: Workspace, ref: str) -> Path:
    """The file or folder ``RUN_ID[:PATH]`` names (an output, or the run's one input)."""
    run_id, _, inner = ref.partition(":")
    store = RunStore(ws.path, ws.db)
    record = store.get(run_id)
    if inner:
        try:
            path = artifact_path(store.run_dir(record.id), inner)
        except UserErrorException as exc:
            raise UserInputError(str(exc)) from None
        if not path.exists():
            raise NotFoundError(f"run {run_id} has no output {inner!r}")
        return path
    refs = record.definition.get("data_references") or {}
    inputs = {n: DataReferenceConfig.from_dict(r, n) for n, r in refs.items()}
    inputs = {n: r for n, r in inputs.items() if r.mode != "upload"}
    if len(inputs) != 1:
        what = f"{len(inputs)} inputs ({', '.join(sorted(inputs))})" if inputs else "no input"
        raise UserInputError(
            f"run {run_id} has {what}", hint=f"name a file of its outputs: run:{run_id}:PATH"
        )
    (only,) = inputs.values()
    datastore = DatastoreStore(ws.path, ws.db).get(only.datastore_name)
    path = locate(datastore, only.path_on_datastore)
    if not path.exists():
        raise NotFoundError(f"run {run_id}'s input {only.data_reference_name} is gone: {path}")
    return path
