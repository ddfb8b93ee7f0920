"""`serving datastores ...`: the workspace's data folders from the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from serving.cli.common import emit_list, emit_one, emit_or_say, err, shows, workspace
from serving.runs import datastores as stores
from serving.runs.datastores import DatastoreStore

LIST_COLUMNS = [
    ("name", "NAME"),
    ("default", "DEFAULT"),
    ("kind", "KIND"),
    ("path", "PATH"),
    ("created_at", "CREATED"),
]


def _store() -> DatastoreStore:
    ws = workspace()
    return DatastoreStore(ws.path, ws.db)


@contextmanager
def _counting(label: str) -> Iterator[tuple[stores.Progress, Callable[[], int]]]:
    """A progress bar on stderr, and a function giving the total number of files seen."""
    seen = [0]
    with stores.file_progress(label, console=err) as bar:

        def update(done: int, total: int, name: str) -> None:
            seen[0] = total
            bar(done, total, name)

        yield update, lambda: seen[0]


def _summary(verb: str, copied: int, total: int, where: str) -> tuple[dict[str, int], str]:
    skipped = total - copied
    line = f"{verb} {copied} file{'s' * (copied != 1)} {where}"
    if skipped:
        line += f" ({skipped} skipped: they exist; use --overwrite to replace them)"
    return {"copied": copied, "skipped": skipped}, line


@click.group("datastores")
def datastores() -> None:
    """Named data folders for training runs (the default one is workspaceblobstore)."""


@datastores.command("list")
@shows
def list_datastores() -> None:
    """List the datastores."""
    emit_list([r.to_dict() for r in _store().list()], LIST_COLUMNS)


@datastores.command("show")
@click.argument("name")
@shows
def show(name: str) -> None:
    """Show one datastore."""
    emit_one(_store().get(name).to_dict())


@datastores.command("register")
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Point an existing NAME at PATH instead.")
@click.option("--default", "make_default", is_flag=True, help="Make it the default datastore.")
@shows
def register(name: str, path: Path, overwrite: bool, make_default: bool) -> None:
    """Register datastore NAME for the existing local folder PATH."""
    store = _store()
    record = store.register(name, path, overwrite=overwrite)
    if make_default:
        record = store.set_default(name)
    emit_or_say(record.to_dict(), f"{record.name} -> {record.path}")


@datastores.command("set-default")
@click.argument("name")
@shows
def set_default(name: str) -> None:
    """Make NAME the default datastore."""
    record = _store().set_default(name)
    emit_or_say(record.to_dict(), f"default datastore: {record.name}")


@datastores.command("unregister")
@click.argument("name")
@shows
def unregister(name: str) -> None:
    """Forget datastore NAME (its folder and files are left alone)."""
    record = _store().unregister(name)
    emit_or_say({"unregistered": record.name}, f"unregistered {record.name}")


@datastores.command("upload")
@click.argument("name")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--target-path", "-t", metavar="P", help="Folder on the datastore (default: root).")
@click.option("--overwrite", is_flag=True, help="Replace files that already exist.")
@shows
def upload(name: str, src: Path, target_path: str | None, overwrite: bool) -> None:
    """Copy the files of folder SRC to datastore NAME (existing files are skipped)."""
    record = _store().get(name)
    with _counting(f"uploading to {name}") as (progress, total):
        copied = stores.upload(record, src, target_path, overwrite, progress)
    where = f"to {name}/{stores.relative_path(target_path, 'target_path').as_posix()}"
    data, line = _summary("uploaded", copied, total(), where.removesuffix("/."))
    emit_or_say(data, line)


@datastores.command("download")
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--prefix", "-p", metavar="P", help="Only paths starting with P.")
@click.option("--overwrite", is_flag=True, help="Replace files that already exist.")
@shows
def download(name: str, dest: Path, prefix: str | None, overwrite: bool) -> None:
    """Copy the files of datastore NAME into folder DEST."""
    record = _store().get(name)
    with _counting(f"downloading from {name}") as (progress, total):
        copied = stores.download(record, dest, prefix, overwrite, progress)
    data, line = _summary("downloaded", copied, total(), f"to {dest}")
    emit_or_say(data, line)
