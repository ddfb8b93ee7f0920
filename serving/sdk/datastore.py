"""``Datastore`` and ``DataReference``: Azure ML v1's data classes over the workspace's
datastore folders (:mod:`serving.runs.datastores`).

``ds.as_mount()`` or ``ds.path('mnist').as_download()`` in a run's arguments becomes the
string ``$AZUREML_DATAREFERENCE_<name>``; the run's supervisor replaces it by a real path
when the run starts and sets the environment variable of that name.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serving.errors import UserInputError
from serving.runs import datarefs
from serving.runs import datastores as stores
from serving.runs.datarefs import DataReferenceConfig
from serving.runs.datastores import DatastoreRecord, DatastoreStore
from serving.workspace import Workspace

_ROOT_PATHS = (None, "", "/", ".", "./")
_CONTAINER = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")


def _store(workspace: Workspace) -> DatastoreStore:
    return DatastoreStore(workspace.path, workspace.db)


@contextmanager
def _progress(label: str, show: bool) -> Iterator[stores.Progress | None]:
    if not show:
        yield None
        return
    with stores.file_progress(label) as update:
        yield update


class Datastore:
    """A named folder of training data. ``Datastore(ws)`` is the default one,
    ``Datastore(ws, name)`` (or :meth:`get`) a registered one."""

    def __init__(self, workspace: Workspace, name: str | None = None) -> None:
        store = _store(workspace)
        record = store.default() if name is None else store.get(name)
        self._init(workspace, record)

    def _init(self, workspace: Workspace, record: DatastoreRecord) -> None:
        self.workspace = workspace
        self._record = record
        self.name = record.name

    @classmethod
    def _of(cls, workspace: Workspace, record: DatastoreRecord) -> Datastore:
        ds = cls.__new__(cls)
        ds._init(workspace, record)
        return ds

    # -- lookup and registration ---------------------------------------------------------
    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        return Datastore._of(workspace, _store(workspace).get(datastore_name))

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return Datastore._of(workspace, _store(workspace).default())

    @staticmethod
    def register_local(
        workspace: Workspace, datastore_name: str, path: str | Path, overwrite: bool = False
    ) -> Datastore:
        """Register ``datastore_name`` for the existing local folder ``path``."""
        record = _store(workspace).register(datastore_name, path, overwrite=overwrite)
        return Datastore._of(workspace, record)

    @staticmethod
    def register_azure_blob_container(
        workspace: Workspace,
        datastore_name: str,
        container_name: str,
        account_name: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        **_azure_kwargs: Any,
    ) -> Datastore:
        """v1's blob registration: the container is the folder
        ``<workspace>/datastores/<container_name>``; account and credentials are ignored."""
        if not _CONTAINER.fullmatch(container_name):
            raise UserInputError(
                f"invalid container name {container_name!r}: use 3-63 lowercase letters, "
                "digits or hyphens, starting with a letter or digit"
            )
        folder = workspace.path / stores.DATASTORES_DIR / container_name
        if create_if_not_exists:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise UserInputError(
                f"container {container_name!r} does not exist ({folder})",
                hint="pass create_if_not_exists=True",
            )
        return Datastore.register_local(workspace, datastore_name, folder, overwrite=overwrite)

    def set_as_default(self) -> None:
        self._record = _store(self.workspace).set_default(self.name)

    def unregister(self) -> None:
        _store(self.workspace).unregister(self.name)

    @property
    def datastore_type(self) -> str:
        """``AzureBlob`` for the built-in store (as in v1), ``LocalFolder`` otherwise."""
        return "AzureBlob" if self._record.builtin else "LocalFolder"

    @property
    def local_path(self) -> Path:
        """The folder on this machine (not in v1)."""
        return self._record.path

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, path={str(self._record.path)!r})"

    # -- files -----------------------------------------------------------------------------
    def upload(
        self,
        src_dir: str | Path,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Copy the files of ``src_dir`` to ``target_path`` (existing files are skipped
        unless ``overwrite``); returns a reference to ``target_path``."""
        with _progress(f"uploading to {self.name}", show_progress) as progress:
            stores.upload(self._record, src_dir, target_path, overwrite, progress)
        return self.path(target_path)

    def upload_files(
        self,
        files: Iterable[str | Path],
        relative_root: str | Path | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        with _progress(f"uploading to {self.name}", show_progress) as progress:
            stores.upload_files(
                self._record, files, relative_root, target_path, overwrite, progress
            )
        return self.path(target_path)

    def download(
        self,
        target_path: str | Path,
        prefix: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """Copy the files whose path starts with ``prefix`` into ``target_path``; returns
        the number of files copied."""
        with _progress(f"downloading from {self.name}", show_progress) as progress:
            return stores.download(self._record, target_path, prefix, overwrite, progress)

    # -- data references -------------------------------------------------------------------
    def path(
        self, path: str | None = None, data_reference_name: str | None = None
    ) -> DataReference:
        return DataReference(self, data_reference_name, path)

    def as_mount(self) -> DataReference:
        return DataReference(self, mode="mount")

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return DataReference(self, mode="download", path_on_compute=path_on_compute)

    def as_upload(self, path_on_compute: str | None = None) -> DataReference:
        return DataReference(self, mode="upload", path_on_compute=path_on_compute)


class DataReference:
    """A path on a datastore as a run sees it; ``str()`` is its placeholder
    ``$AZUREML_DATAREFERENCE_<name>``.

    The name defaults to the datastore's name when the path is the root (none, ``/``,
    ``.`` or ``./``), else to a random hex id (so it is never a cache key)."""

    def __init__(
        self,
        datastore: Datastore,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if data_reference_name is None:
            at_root = path_on_datastore in _ROOT_PATHS
            data_reference_name = datastore.name if at_root else uuid.uuid4().hex
        stores.relative_path(path_on_datastore, "path_on_datastore")
        self.datastore = datastore
        self.data_reference_name = data_reference_name
        self.path_on_datastore = path_on_datastore
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite
        self.to_config()  # checks the name and the mode now, not when the run starts

    def _with(self, **changes: Any) -> DataReference:
        fields: dict[str, Any] = {
            "data_reference_name": self.data_reference_name,
            "path_on_datastore": self.path_on_datastore,
            "mode": self.mode,
            "path_on_compute": self.path_on_compute,
            "overwrite": self.overwrite,
        }
        fields.update(changes)
        return DataReference(self.datastore, **fields)

    def as_mount(self) -> DataReference:
        return self._with(mode="mount")

    def as_download(
        self, path_on_compute: str | None = None, overwrite: bool = False
    ) -> DataReference:
        return self._with(mode="download", path_on_compute=path_on_compute, overwrite=overwrite)

    def as_upload(
        self, path_on_compute: str | None = None, overwrite: bool = False
    ) -> DataReference:
        return self._with(mode="upload", path_on_compute=path_on_compute, overwrite=overwrite)

    def path(
        self, path: str | None = None, data_reference_name: str | None = None
    ) -> DataReference:
        """A reference to ``path`` below this one (a new name unless one is given)."""
        base = self.path_on_datastore or ""
        joined = posixpath.join(base, path) if path else base
        return DataReference(self.datastore, data_reference_name, joined or None)

    def to_config(self) -> DataReferenceConfig:
        return DataReferenceConfig(
            data_reference_name=self.data_reference_name,
            datastore_name=self.datastore.name,
            path_on_datastore=self.path_on_datastore,
            mode=self.mode,
            path_on_compute=self.path_on_compute,
            overwrite=self.overwrite,
        )

    def __str__(self) -> str:
        return datarefs.PLACEHOLDER.format(name=self.data_reference_name)

    def __repr__(self) -> str:
        return (
            f"DataReference(datastore={self.datastore.name!r}, "
            f"name={self.data_reference_name!r}, path={self.path_on_datastore!r}, "
            f"mode={self.mode!r})"
        )


def get_default_datastore(workspace: Workspace) -> Datastore:
    """``ws.get_default_datastore()``."""
    return Datastore.get_default(workspace)


def datastores(workspace: Workspace) -> dict[str, Datastore]:
    """``ws.datastores``: every datastore by name."""
    return {r.name: Datastore._of(workspace, r) for r in _store(workspace).list()}


def set_default_datastore(workspace: Workspace, name: str) -> None:
    """``ws.set_default_datastore(name)``."""
    _store(workspace).set_default(name)


__all__ = [
    "DataReference",
    "Datastore",
    "datastores",
    "get_default_datastore",
    "set_default_datastore",
]
