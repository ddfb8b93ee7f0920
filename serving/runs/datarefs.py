"""Data references: how a datastore path reaches a run (v1's ``DataReference``).

A reference appears in a run's arguments as ``$AZUREML_DATAREFERENCE_<name>``; when the run
starts :func:`materialize` gives it a real path (mount: the datastore folder itself,
read-only in containers; download: a copy in the working folder; upload: an empty folder
copied back by :func:`upload_outputs` after a successful run), :func:`substitute` puts that
path inside each argument and :func:`env_vars` sets ``AZUREML_DATAREFERENCE_<name>``.
Standard library only: training scripts import the runs package.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from serving.errors import UserInputError
from serving.runs.datastores import (
    DatastoreStore,
    check_name,
    files_under,
    locate,
    relative_path,
    transfer,
    upload,
)

PLACEHOLDER = "$AZUREML_DATAREFERENCE_{name}"
ENV_PREFIX = "AZUREML_DATAREFERENCE_"
MODES = ("mount", "download", "upload")


@dataclass(frozen=True)
class DataReferenceConfig:
    """How one datastore path reaches a run (v1's ``DataReferenceConfiguration``)."""

    data_reference_name: str
    datastore_name: str
    path_on_datastore: str | None = None
    mode: str = "mount"
    path_on_compute: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        check_name(self.data_reference_name, "data reference name")
        check_name(self.datastore_name)
        if self.mode not in MODES:
            raise UserInputError(
                f"invalid data reference mode {self.mode!r}: use one of {', '.join(MODES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_reference_name": self.data_reference_name,
            "datastore_name": self.datastore_name,
            "path_on_datastore": self.path_on_datastore,
            "mode": self.mode,
            "path_on_compute": self.path_on_compute,
            "overwrite": self.overwrite,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> DataReferenceConfig:
        """From :meth:`to_dict`'s shape; ``name`` (a run definition's key) wins."""
        try:
            return cls(
                data_reference_name=name or str(data["data_reference_name"]),
                datastore_name=str(data["datastore_name"]),
                path_on_datastore=data.get("path_on_datastore"),
                mode=str(data.get("mode") or "mount"),
                path_on_compute=data.get("path_on_compute"),
                overwrite=bool(data.get("overwrite", False)),
            )
        except KeyError as exc:
            raise UserInputError(f"data reference {name or data!r} has no {exc.args[0]}") from None


def _download_copy(source: Path, dest: Path) -> None:
    if source.is_dir():
        transfer([(p, dest / rel, rel) for p, rel in files_under(source)], True, None)
        dest.mkdir(parents=True, exist_ok=True)
    else:
        transfer([(source, dest, source.name)], True, None)


def _materialize_one(
    store: DatastoreStore, cfg: DataReferenceConfig, work_dir: Path, shipped: bool
) -> tuple[Path, bool]:
    """(the host path the script gets, whether it is to be mounted read-only)."""
    if shipped and cfg.mode == "upload":
        raise UserInputError(
            f"data reference {cfg.data_reference_name!r}: upload mode needs the run's folders "
            "back on this machine, and a cluster node's are not; write the files to outputs/"
        )
    ds = store.get(cfg.datastore_name)
    source = locate(ds, cfg.path_on_datastore, "path_on_datastore")
    on_compute = relative_path(cfg.path_on_compute, "path_on_compute")
    if on_compute == PurePosixPath():
        local = work_dir / cfg.data_reference_name
    else:
        local = work_dir.joinpath(*on_compute.parts)
    if cfg.mode == "upload":
        local.mkdir(parents=True, exist_ok=True)
        return local, False
    if not source.exists():
        raise UserInputError(
            f"data reference {cfg.data_reference_name!r}: {cfg.path_on_datastore or '/'!r} "
            f"does not exist on datastore {ds.name!r} ({source})",
            hint=f"upload it first, e.g. 'serving datastores upload {ds.name} ...'",
        )
    if cfg.mode == "mount" and not shipped:
        return source, True
    if source.is_file() and on_compute == PurePosixPath():
        local = local / source.name
    _download_copy(source, local)
    return local, False


def materialize(
    store: DatastoreStore,
    refs: Mapping[str, Mapping[str, Any]],
    work_dir: Path,
    shipped: bool = False,
) -> tuple[dict[str, Path], list[Path]]:
    """The path each data reference gets (key: its name) and the host paths to bind-mount
    read-only into a container (the mount-mode ones; mount them at the same path, so the
    arguments and variables need no translation).

    mount: the folder or file itself on the datastore; download: a copy under
    ``work_dir/<path_on_compute or name>``; upload: an empty folder there, whose files
    :func:`upload_outputs` copies to the datastore when the run ends.

    ``shipped``: the working folder travels to another machine (a Ray node) and nothing
    of this one is mounted there: mount-mode references are copied into it like
    download-mode ones, and upload mode is refused (the node's folders do not come back).
    """
    paths: dict[str, Path] = {}
    mounts: list[Path] = []
    for name, data in refs.items():
        cfg = DataReferenceConfig.from_dict(data, name)
        path, mounted = _materialize_one(store, cfg, Path(work_dir), shipped)
        paths[name] = path
        if mounted:
            mounts.append(path)
    return paths, mounts


def upload_outputs(
    store: DatastoreStore, refs: Mapping[str, Mapping[str, Any]], paths: Mapping[str, Path]
) -> int:
    """Copy the folders of the upload-mode references to their datastore paths (after the
    run); returns the number of files copied."""
    copied = 0
    for name, data in refs.items():
        cfg = DataReferenceConfig.from_dict(data, name)
        if cfg.mode == "upload" and Path(paths[name]).is_dir():
            ds = store.get(cfg.datastore_name)
            copied += upload(ds, paths[name], cfg.path_on_datastore, overwrite=cfg.overwrite)
    return copied


def _placeholder_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    # longest names first, and no word character after one: '$..._ab' is not '$..._a' + 'b'
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    if not alternatives:
        return None
    return re.compile(rf"\$\{{{ENV_PREFIX}({alternatives})\}}|\${ENV_PREFIX}({alternatives})(?!\w)")


def substitute(args: Sequence[object], paths: Mapping[str, os.PathLike[str] | str]) -> list[str]:
    """``args`` as strings, with ``$AZUREML_DATAREFERENCE_<name>`` and
    ``${AZUREML_DATAREFERENCE_<name>}`` replaced by the path of ``name`` inside each one
    (``--data=$AZUREML_DATAREFERENCE_ds/mnist`` becomes ``--data=/data/ds/mnist``).
    Placeholders of unknown names are left as written."""
    pattern = _placeholder_pattern(paths)
    texts = [str(arg) for arg in args]
    if pattern is None:
        return texts
    return [
        pattern.sub(lambda m: os.fspath(paths[m.group(1) or m.group(2)]), text) for text in texts
    ]


def env_vars(paths: Mapping[str, os.PathLike[str] | str]) -> dict[str, str]:
    """``AZUREML_DATAREFERENCE_<name>`` -> path, for the run's environment."""
    return {f"{ENV_PREFIX}{name}": os.fspath(path) for name, path in paths.items()}


__all__ = [
    "ENV_PREFIX",
    "MODES",
    "PLACEHOLDER",
    "DataReferenceConfig",
    "env_vars",
    "materialize",
    "substitute",
    "upload_outputs",
]
