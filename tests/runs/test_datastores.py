"""Datastores: the default store, uploads and downloads of real files, data references
(naming, placeholders, substitution inside arguments, materialization) and the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.cli.datastores import datastores as datastores_command
from serving.cli.main import cli as cli_group
from serving.cli.main import main
from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.runs import datarefs
from serving.runs import datastores as stores
from serving.runs.datarefs import DataReferenceConfig
from serving.runs.datastores import DatastoreStore
from serving.sdk.datastore import DataReference, Datastore, datastores, get_default_datastore
from serving.workspace import Workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(path=tmp_path / "project")


@pytest.fixture()
def store(ws: Workspace) -> DatastoreStore:
    return DatastoreStore(ws.path, ws.db)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    """A small data folder: two files at the top, one in a subfolder."""
    folder = tmp_path / "data"
    (folder / "mnist").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "b.csv").write_text("1,2\n")
    (folder / "mnist" / "train.npy").write_bytes(b"\x00\x01")
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


# -- the store -------------------------------------------------------------------------
def test_default_datastore_exists_in_the_workspace(ws: Workspace, store: DatastoreStore) -> None:
    default = store.default()
    assert default.name == "workspaceblobstore" and default.is_default and default.builtin
    assert default.path == ws.path / "datastores" / "workspaceblobstore"
    assert default.path.is_dir()
    assert [r.name for r in store.list()] == ["workspaceblobstore"]
    sdk = get_default_datastore(ws)
    assert (sdk.name, sdk.datastore_type) == ("workspaceblobstore", "AzureBlob")
    assert list(datastores(ws)) == ["workspaceblobstore"]
    assert Datastore(ws).name == "workspaceblobstore"


def test_register_set_default_unregister(store: DatastoreStore, data: Path, tmp_path: Path) -> None:
    record = store.register("local_data", data)
    assert record.path == data.resolve() and not record.is_default
    assert store.register("local_data", data) == record  # the same again: a no-op
    with pytest.raises(ConflictError, match="already exists"):
        store.register("local_data", tmp_path)
    assert store.register("local_data", tmp_path, overwrite=True).path == tmp_path.resolve()
    assert store.set_default("local_data").is_default
    assert store.default().name == "local_data"
    assert not store.get("workspaceblobstore").is_default
    store.unregister("local_data")
    assert store.default().name == "workspaceblobstore"
    assert data.is_dir()  # the folder is left alone
    with pytest.raises(NotFoundError, match="'local_data' not found"):
        store.get("local_data")


@pytest.mark.parametrize("name", ["", "bad-name", "a/b", "x" * 256, "naïve"])
def test_bad_names_are_refused(store: DatastoreStore, data: Path, name: str) -> None:
    with pytest.raises(UserInputError, match="letters, digits or underscores"):
        store.register(name, data)


def test_register_refuses_missing_folder_and_builtin(
    store: DatastoreStore, data: Path, tmp_path: Path
) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        store.register("gone", tmp_path / "nope")
    with pytest.raises(UserInputError, match="is not a folder"):
        store.register("file", data / "a.txt")
    with pytest.raises(ConflictError):
        store.register("workspaceblobstore", data, overwrite=True)
    with pytest.raises(ConflictError, match="cannot be unregistered"):
        store.unregister("workspaceblobstore")


# -- files -----------------------------------------------------------------------------
def test_upload_skips_existing_files_unless_overwrite(store: DatastoreStore, data: Path) -> None:
    ds = store.default()
    seen: list[tuple[int, int, str]] = []
    assert stores.upload(ds, data, "digits", progress=lambda *a: seen.append(a)) == 3
    assert seen[-1][:2] == (3, 3)
    assert files_of(ds.path / "digits") == files_of(data)
    (data / "a.txt").write_text("changed")
    assert stores.upload(ds, data, "digits") == 0
    assert (ds.path / "digits" / "a.txt").read_text() == "a"
    assert stores.upload(ds, data, "digits", overwrite=True) == 3
    assert (ds.path / "digits" / "a.txt").read_text() == "changed"
    assert not [p for p in ds.path.rglob("*.partial")]


def test_failed_copy_is_one_error_and_leaves_no_partial_file(
    store: DatastoreStore, data: Path
) -> None:
    ds = store.default()
    (ds.path / "t" / "a.txt").mkdir(parents=True)  # a folder where a file is to go
    with pytest.raises(UserInputError, match=r"cannot copy .*a\.txt"):
        stores.upload(ds, data, "t", overwrite=True)
    assert (ds.path / "t" / "a.txt").is_dir()
    assert not [p for p in ds.path.rglob("*") if p.name.endswith(".partial")]


def test_upload_files_relative_root(store: DatastoreStore, data: Path) -> None:
    ds = store.default()
    files = [data / "a.txt", data / "mnist" / "train.npy"]
    assert stores.upload_files(ds, files, target_path="picked") == 2
    assert set(files_of(ds.path / "picked")) == {"a.txt", "mnist/train.npy"}
    assert stores.upload_files(ds, [data / "mnist" / "train.npy"], relative_root=data) == 1
    assert (ds.path / "mnist" / "train.npy").is_file()
    with pytest.raises(UserInputError, match="not under relative_root"):
        stores.upload_files(ds, [data / "a.txt"], relative_root=data / "mnist")
    with pytest.raises(UserInputError, match="not a file"):
        stores.upload_files(ds, [data / "mnist"])


def test_download_counts_files_and_filters_by_prefix(
    store: DatastoreStore, data: Path, tmp_path: Path
) -> None:
    ds = store.default()
    stores.upload(ds, data, "digits")
    stores.upload(ds, data, "digits_old")
    (ds.path / "digits" / ".a.txt.0123456789ab.partial").write_text("half")  # a killed copy
    assert stores.download(ds, tmp_path / "all") == 6
    assert stores.download(ds, tmp_path / "all") == 0  # all there already
    assert stores.download(ds, tmp_path / "all", overwrite=True) == 6
    assert stores.download(ds, tmp_path / "p", prefix="digits") == 6
    assert stores.download(ds, tmp_path / "f", prefix="digits/") == 3
    assert set(files_of(tmp_path / "f")) == {
        "digits/a.txt",
        "digits/b.csv",
        "digits/mnist/train.npy",
    }
    assert stores.download(ds, tmp_path / "one", prefix="digits/mnist/train.npy") == 1


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc", "..\\x"])
def test_paths_escaping_the_datastore_are_refused(
    ws: Workspace, store: DatastoreStore, data: Path, tmp_path: Path, path: str
) -> None:
    ds = store.default()
    with pytest.raises(UserInputError, match=r"leaves the datastore|is absolute"):
        stores.upload(ds, data, path)
    with pytest.raises(UserInputError, match=r"leaves the datastore|is absolute"):
        stores.download(ds, tmp_path / "out", prefix=path)
    with pytest.raises(UserInputError):
        DataReference(Datastore.get_default(ws), None, path)
    assert not (tmp_path / "x").exists()


# -- data references -------------------------------------------------------------------
def test_reference_naming_rule_and_placeholder(ws: Workspace) -> None:
    ds = Datastore.get_default(ws)
    for root in (None, "/", ".", "./"):
        assert ds.path(root).data_reference_name == "workspaceblobstore"
    assert str(ds.as_mount()) == "$AZUREML_DATAREFERENCE_workspaceblobstore"
    named = ds.path("mnist")
    assert len(named.data_reference_name) == 32 and named.data_reference_name != "mnist"
    assert ds.path("mnist").data_reference_name != named.data_reference_name  # random
    assert ds.path("mnist", data_reference_name="train").data_reference_name == "train"
    assert str(ds.path("mnist", "train")) == "$AZUREML_DATAREFERENCE_train"
    download = ds.path("mnist", "train").as_download(path_on_compute="d")
    assert download.to_config() == DataReferenceConfig(
        "train", "workspaceblobstore", "mnist", "download", "d"
    )
    assert DataReferenceConfig.from_dict(download.to_config().to_dict()) == download.to_config()
    assert ds.as_download().mode == "download" and ds.as_upload().mode == "upload"
    with pytest.raises(UserInputError, match="mode"):
        DataReference(ds, mode="stream")


def test_substitute_inside_arguments_and_env_vars(tmp_path: Path) -> None:
    paths = {"workspaceblobstore": tmp_path / "ds", "ws": tmp_path / "short"}
    args = [
        "--data=$AZUREML_DATAREFERENCE_workspaceblobstore/mnist",
        "${AZUREML_DATAREFERENCE_ws}",
        "$AZUREML_DATAREFERENCE_wsx",  # another name: left as written
        5,
    ]
    assert datarefs.substitute(args, paths) == [
        f"--data={tmp_path / 'ds'}/mnist",
        str(tmp_path / "short"),
        "$AZUREML_DATAREFERENCE_wsx",
        "5",
    ]
    assert datarefs.env_vars(paths)["AZUREML_DATAREFERENCE_ws"] == str(tmp_path / "short")
    assert datarefs.PLACEHOLDER.format(name="ws") == "$AZUREML_DATAREFERENCE_ws"


def test_materialize_mount_download_upload(
    ws: Workspace, store: DatastoreStore, data: Path, tmp_path: Path
) -> None:
    ds = Datastore.get_default(ws)
    ds.upload(data, "digits", show_progress=False)
    refs = {
        "root": ds.as_mount().to_config().to_dict(),
        "copy": ds.path("digits", "copy").as_download().to_config().to_dict(),
        "one": ds.path("digits/a.txt", "one").as_download().to_config().to_dict(),
        "out": ds.path("results", "out").as_upload().to_config().to_dict(),
    }
    work = tmp_path / "work"
    paths, mounts = datarefs.materialize(store, refs, work)
    assert paths["root"] == ds.local_path and mounts == [ds.local_path]
    assert paths["copy"] == work / "copy" and files_of(work / "copy") == files_of(data)
    assert paths["one"] == work / "one" / "a.txt" and paths["one"].read_text() == "a"
    assert paths["out"] == work / "out" and paths["out"].is_dir()
    (paths["out"] / "model.txt").write_text("m")
    assert datarefs.upload_outputs(store, refs, paths) == 1
    assert (ds.local_path / "results" / "model.txt").read_text() == "m"


def test_materialize_for_a_cluster_node_copies_mounts_and_refuses_upload(
    ws: Workspace, store: DatastoreStore, data: Path, tmp_path: Path
) -> None:
    """``shipped``: the working folder goes to a Ray node, where nothing of this machine
    is mounted."""
    ds = Datastore.get_default(ws)
    ds.upload(data, "digits", show_progress=False)
    refs = {"root": ds.path("digits", "root").as_mount().to_config().to_dict()}
    work = tmp_path / "work"
    paths, mounts = datarefs.materialize(store, refs, work, shipped=True)
    assert paths["root"] == work / "root" and mounts == []
    assert files_of(work / "root") == files_of(data)
    upload = {"out": ds.path("results", "out").as_upload().to_config().to_dict()}
    with pytest.raises(UserInputError, match="'out': upload mode needs the run's folders"):
        datarefs.materialize(store, upload, work, shipped=True)


def test_materialize_missing_path_names_datastore_and_path(
    store: DatastoreStore, tmp_path: Path
) -> None:
    refs = {"x": {"datastore_name": "workspaceblobstore", "path_on_datastore": "nope/mnist"}}
    with pytest.raises(UserInputError, match="'nope/mnist' does not exist on datastore"):
        datarefs.materialize(store, refs, tmp_path / "work")
    with pytest.raises(NotFoundError, match="'other' not found"):
        datarefs.materialize(store, {"x": {"datastore_name": "other"}}, tmp_path / "work")


def test_sdk_upload_download_register(ws: Workspace, data: Path, tmp_path: Path) -> None:
    ds = Datastore.get_default(ws)
    ref = ds.upload(str(data), target_path="digits", show_progress=True)
    assert (ref.path_on_datastore, ref.mode) == ("digits", "mount")
    assert ds.download(tmp_path / "dl", prefix="digits", show_progress=False) == 3
    local = Datastore.register_local(ws, "local_data", data)
    assert Datastore.get(ws, "local_data").local_path == data.resolve()
    blob = Datastore.register_azure_blob_container(
        ws, "blobs", "my-container", account_name="acct", create_if_not_exists=True
    )
    assert blob.local_path == ws.path / "datastores" / "my-container"
    local.set_as_default()
    assert get_default_datastore(ws).name == "local_data"
    assert sorted(datastores(ws)) == ["blobs", "local_data", "workspaceblobstore"]


# -- the command line ------------------------------------------------------------------
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture()
def run_cli(
    ws: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    if "datastores" not in cli_group.commands:  # until serving.cli.main registers it
        cli_group.add_command(datastores_command)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--workspace", str(ws.path), *(str(a) for a in args)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_cli_register_upload_download(run_cli: Cli, data: Path, tmp_path: Path) -> None:
    code, out, _ = run_cli("datastores", "list", "-o", "json")
    assert code == 0 and [d["name"] for d in json.loads(out)] == ["workspaceblobstore"]
    code, out, _ = run_cli("datastores", "upload", "workspaceblobstore", data, "-t", "digits")
    assert (code, out.strip()) == (0, "uploaded 3 files to workspaceblobstore/digits")
    code, out, _ = run_cli("datastores", "upload", "workspaceblobstore", data, "-t", "digits")
    assert code == 0 and "uploaded 0 files" in out and "3 skipped" in out
    code, out, _ = run_cli(
        "datastores", "download", "workspaceblobstore", tmp_path / "dl", "-o", "json"
    )
    assert code == 0 and json.loads(out) == {"copied": 3, "skipped": 0}
    assert (tmp_path / "dl" / "digits" / "mnist" / "train.npy").is_file()
    code, out, _ = run_cli("datastores", "register", "mine", data, "--default")
    assert code == 0 and os.fspath(data.resolve()) in out
    code, out, _ = run_cli("datastores", "show", "mine", "-o", "json")
    assert code == 0 and json.loads(out)["default"] is True


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("datastores", "show", "nope"), 3, "datastore 'nope' not found"),
        (("datastores", "register", "bad-name", "."), 2, "invalid datastore name"),
        (("datastores", "upload", "workspaceblobstore", ".", "-t", "../up"), 2, "leaves the"),
        (("datastores", "unregister", "workspaceblobstore"), 4, "cannot be unregistered"),
    ],
)
def test_cli_errors_are_one_line(
    run_cli: Cli, args: tuple[str, ...], code: int, needle: str
) -> None:
    found, _out, err = run_cli(*args)
    assert found == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
