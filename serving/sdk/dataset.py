"""``Dataset``: Azure ML v1's tabular and file datasets over the workspace's datastores.

::

    ds = ws.get_default_datastore()
    iris = Dataset.Tabular.from_delimited_files(path=[(ds, "iris/iris.csv")])
    iris = iris.register(ws, "iris", create_new_version=True)
    df = Dataset.get_by_name(ws, "iris").to_pandas_dataframe()

A dataset is a definition (which files, how to read them), stored in the workspace's
metadata as ``dataset:<name>:<version>``; the files stay where they are. Paths are
``(datastore, "path/with/*globs")`` pairs, ``DataReference`` objects, local paths, or
http(s) URLs (fetched when the data is read).
"""

from __future__ import annotations

import csv
import glob
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.runs import datasets
from serving.runs.datasets import FILE, TABULAR, DatasetDefinition
from serving.workspace import Workspace


def _one_path(item: Any) -> tuple[str | None, str]:
    from serving.sdk.datastore import DataReference, Datastore

    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore):
        return item[0].name, str(item[1])
    if isinstance(item, Datastore):
        return item.name, ""
    if isinstance(item, DataReference):
        return item.datastore.name, item.path_on_datastore or ""
    if isinstance(item, str | Path):
        return None, str(item)
    raise UserInputError(
        f"dataset path {item!r}: use (datastore, 'path'), ds.path('path'), a local path or a URL"
    )


def _paths(path: Any) -> tuple[tuple[str | None, str], ...]:
    items = path if isinstance(path, list) else [path]
    return tuple(_one_path(item) for item in items)


def _workspace_of(path: Any) -> Workspace | None:
    """The workspace of the first datastore among ``path``'s items (None: local paths)."""
    for item in path if isinstance(path, list) else [path]:
        store = item[0] if isinstance(item, tuple) else getattr(item, "datastore", item)
        ws = getattr(store, "workspace", None)
        if isinstance(ws, Workspace):
            return ws
    return None


class Dataset:
    """A tabular or file dataset (``Dataset.Tabular`` / ``Dataset.File`` create them)."""

    Tabular: type[TabularDatasetFactory]
    File: type[FileDatasetFactory]

    def __init__(self, definition: DatasetDefinition, workspace: Workspace | None = None) -> None:
        self._definition = definition
        self.workspace = workspace

    # -- registry ------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self._definition.name

    @property
    def version(self) -> int | None:
        return self._definition.version

    @property
    def description(self) -> str | None:
        return self._definition.description

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._definition.tags)

    def register(
        self,
        workspace: Workspace,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
    ) -> Dataset:
        """Record this definition as ``name``; an existing name needs ``create_new_version``
        (unless the definition is the same, which returns the registered one)."""
        versions = datasets.versions(workspace, name)
        plain = replace(self._definition, name=None, version=None, description=None, tags={})
        if versions:
            latest = datasets.load(workspace, name, versions[-1])
            same = replace(latest, name=None, version=None, description=None, tags={}) == plain
            if same:
                return Dataset(latest, workspace)
            if not create_new_version:
                raise ConflictError(f"dataset {name} already exists: pass create_new_version=True")
        version = (versions[-1] if versions else 0) + 1
        definition = replace(plain, name=name, version=version, description=description,
                             tags=dict(tags or {}))  # fmt: skip
        datasets.save(workspace, definition)
        return Dataset(definition, workspace)

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: str | int = "latest") -> Dataset:
        chosen = None if str(version) == "latest" else int(version)
        found = datasets.find(workspace, name, chosen, hint="register it with .register()")
        return Dataset(found, workspace)

    @staticmethod
    def registered(workspace: Workspace) -> dict[str, Dataset]:
        """``ws.datasets``: name -> latest version."""
        return {name: Dataset.get_by_name(workspace, name) for name in datasets.names(workspace)}

    # -- files ---------------------------------------------------------------------------
    def _workspace_for(self, path_ws: Workspace | None) -> Workspace:
        ws = path_ws or self.workspace
        if ws is None:
            raise UserInputError("this dataset names a datastore but no workspace")
        return ws

    def to_path(self) -> list[str]:
        """The files of the dataset, as local paths (URLs are fetched to a temporary folder)."""
        files: list[str] = []
        for store, path in self._definition.paths:
            files.extend(self._resolve(store, path))
        if not files:
            raise NotFoundError(
                f"dataset {self.name or ''} matches no file: {self._definition.paths}"
            )
        return files

    def _resolve(self, store: str | None, path: str) -> list[str]:
        if datasets.is_url(store, path):
            return [_fetch(path)]
        base = Path(path) if store is None else \
            datasets.path_of(self._workspace_for(None), store, path)  # fmt: skip
        return [str(found) for found in datasets.local_files(base)]

    def download(self, target_path: str | Path | None = None, overwrite: bool = False) -> list[str]:
        """Copy the files into ``target_path`` (default: a new temporary folder)."""
        folder = Path(target_path) if target_path else Path(tempfile.mkdtemp(prefix="dataset-"))
        folder.mkdir(parents=True, exist_ok=True)
        copied = []
        for source in self.to_path():
            dest = folder / Path(source).name
            if dest.exists() and not overwrite:
                raise ConflictError(f"{dest} exists: pass overwrite=True")
            shutil.copy2(source, dest)
            copied.append(str(dest))
        return copied

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    # -- tabular -------------------------------------------------------------------------
    def to_pandas_dataframe(self) -> Any:
        if self._definition.kind != TABULAR:
            raise UserInputError("to_pandas_dataframe() needs a Tabular dataset")
        try:
            import pandas as pd
        except ImportError:
            raise UserInputError(
                "to_pandas_dataframe() needs pandas, which is not installed",
                hint="pip install pandas (as v1's azureml-dataset-runtime[pandas])",
            ) from None

        header = 0 if self._definition.header else None
        frames = [pd.read_csv(f, sep=self._definition.separator, header=header)
                  for f in self.to_path()]  # fmt: skip
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def take(self, count: int) -> Dataset:
        raise UserInputError("take() is not supported: use to_pandas_dataframe().head(count)")

    def request_bodies(self) -> list[str]:
        """For ``Model.profile``: a tabular dataset's first column (one JSON body a row),
        or a file dataset's files (one JSON body each)."""
        if self._definition.kind == TABULAR:
            bodies: list[str] = []
            for path in self.to_path():
                with open(path, encoding="utf-8", newline="") as handle:
                    rows = list(csv.reader(handle, delimiter=self._definition.separator))
                bodies.extend(row[0] for row in rows[int(self._definition.header) :] if row)
            return bodies
        return [Path(f).read_text(encoding="utf-8") for f in self.to_path()]

    def __repr__(self) -> str:
        kind = "TabularDataset" if self._definition.kind == TABULAR else "FileDataset"
        return f"{kind}(name={self.name!r}, version={self.version}, paths={self._definition.paths})"


def _fetch(url: str) -> str:
    from serving import httpclient

    resp = httpclient.get(url, timeout=60)
    if resp.status_code != 200:
        raise NotFoundError(f"cannot fetch {url}: HTTP {resp.status_code}")
    folder = Path(tempfile.mkdtemp(prefix="dataset-url-"))
    target = folder / (Path(urlparse(url).path).name or "data")
    target.write_bytes(resp.content)
    return str(target)


@dataclass(frozen=True)
class DatasetConsumptionConfig:
    """``dataset.as_named_input(name)``: ``as_mount()``/``as_download()`` give the data
    reference a run resolves (a dataset of one datastore folder or file)."""

    name: str
    dataset: Dataset

    def _reference(self, mode: str) -> Any:
        from serving.sdk.datastore import DataReference, Datastore

        paths = self.dataset._definition.paths
        if len(paths) != 1 or paths[0][0] is None or glob.has_magic(paths[0][1]):
            raise UserInputError(
                f"dataset input {self.name}: only a dataset of one datastore path (no "
                "wildcards) can be given to a run here; pass ds.path(...) instead"
            )
        store = Datastore.get(self.dataset._workspace_for(None), str(paths[0][0]))
        return DataReference(store, self.name, paths[0][1] or None, mode=mode)

    def as_mount(self, path_on_compute: str | None = None) -> Any:
        return self._reference("mount")

    def as_download(self, path_on_compute: str | None = None) -> Any:
        return self._reference("download")


class TabularDatasetFactory:
    """``Dataset.Tabular``."""

    @staticmethod
    def from_delimited_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        infer_column_types: bool = True,
        set_column_types: Any = None,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        support_multi_line: bool = False,
        empty_as_string: bool = False,
        encoding: str = "utf8",
    ) -> Dataset:
        from serving.sdk.configs import warn_ignored

        warn_ignored("Dataset.Tabular.from_delimited_files", {
            "include_path": include_path, "set_column_types": set_column_types,
            "partition_format": partition_format, "support_multi_line": support_multi_line,
            "empty_as_string": empty_as_string,
        })  # fmt: skip
        has_header = header not in (False, None, "NO_HEADERS", 0) and str(header) != \
            "PromoteHeadersBehavior.NO_HEADERS"  # fmt: skip
        definition = DatasetDefinition(TABULAR, _paths(path), separator, has_header)
        return Dataset(definition, _workspace_of(path))


class FileDatasetFactory:
    """``Dataset.File``."""

    @staticmethod
    def from_files(
        path: Any, validate: bool = True, partition_format: str | None = None,
        is_file: bool = False,
    ) -> Dataset:  # fmt: skip
        from serving.sdk.configs import warn_ignored

        warn_ignored("Dataset.File.from_files", {"partition_format": partition_format})
        return Dataset(DatasetDefinition(FILE, _paths(path)), _workspace_of(path))


Dataset.Tabular = TabularDatasetFactory
Dataset.File = FileDatasetFactory
TabularDataset = FileDataset = Dataset

__all__ = ["Dataset", "DatasetConsumptionConfig", "FileDataset", "TabularDataset"]
