"""Build contexts on disk: the models and code of a model image, and reproducible tarballs.

A model image's context holds ``azureml-models/<name>/<version>/<file>`` (verified copies
from the registry) and ``azureml-app/`` (the source folder, or only the entry script),
exactly as they will sit under ``/var/azureml-app`` in the image. Tarballs have fixed
owners and times so identical inputs give identical layers (and Docker cache hits).
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from serving.images.engine import BuildOutput, Progress, build
from serving.registry import ModelRecord, Ref
from serving.registry.artifacts import sha256_file
from serving.scoring.layout import (
    MODELS_FOLDER,
    ModelFiles,
    container_env,
    script_relpath,
    write_app_dir,
)

if TYPE_CHECKING:
    from docker import DockerClient

    from serving.workspace import Workspace

FIXED_MTIME = 315532800
"""1980-01-01T00:00:00Z: every file in a context tarball gets this time."""
APP_FOLDER = "azureml-app"


@dataclass(frozen=True)
class AppContext:
    """What was written for the models and code, and their digests."""

    env: dict[str, str]
    """AML_APP_ROOT, AZUREML_ENTRY_SCRIPT, AZUREML_MODEL_DIR (+ AZUREML_SOURCE_DIRECTORY)."""
    entry_script: str
    models: dict[str, str]
    """``name:version`` -> sha256 of the file (of the file list, for a folder)."""
    script_sha256: str
    app_sha256: str


def tar_filter(owner: int, keep_pyc: bool) -> Callable[[tarfile.TarInfo], tarfile.TarInfo | None]:
    """A tarfile filter: fixed time, ``owner``, and .pyc files dropped unless ``keep_pyc``."""

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        pyc = "__pycache__" in info.name.split("/") or info.name.endswith(".pyc")
        if pyc and not keep_pyc:
            return None
        info.uid = info.gid = owner
        info.uname = info.gname = ""
        info.mtime = FIXED_MTIME
        return info

    return normalise


@contextmanager
def tar_directory(
    root: Path, *, owner: int = 0, prefix: str = "", keep_pyc: bool = False
) -> Iterator[IO[bytes]]:
    """A temporary tarball of ``root``'s contents (sorted, fixed times, owned by ``owner``),
    each entry under ``prefix`` when given; .pyc files are left out unless ``keep_pyc``."""
    with tempfile.TemporaryFile(prefix="serving-context-") as handle:
        with tarfile.open(fileobj=handle, mode="w") as tar:
            for child in sorted(root.iterdir()):
                tar.add(child, arcname=prefix + child.name, filter=tar_filter(owner, keep_pyc))
        handle.seek(0)
        yield handle


def build_in_folder(
    client: DockerClient,
    fill: Callable[[Path], None],
    *,
    tag: str,
    progress: Progress,
    buildargs: Mapping[str, str] | None = None,
) -> BuildOutput:
    """Build the ``Dockerfile`` that ``fill`` writes, with what else it writes as the
    context, in a temporary folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="serving-build-") as tmp:
        fill(Path(tmp))
        with tar_directory(Path(tmp)) as tar:
            return build(
                client,
                tar,
                dockerfile="Dockerfile",
                tag=tag,
                progress=progress,
                buildargs=buildargs,
            )


def model_digest(record: ModelRecord) -> str:
    """The file's sha256, or for a folder the sha256 of its ``relpath sha256`` lines."""
    if record.kind == "file" and len(record.files) == 1:
        return record.files[0].sha256
    lines = "".join(f"{f.relpath} {f.sha256}\n" for f in record.files)
    return hashlib.sha256(lines.encode()).hexdigest()


def tree_digest(root: Path) -> str:
    """sha256 over the relative paths, modes and contents of every file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        rel = path.relative_to(root).as_posix()
        digest.update(f"{rel}\0{path.stat().st_mode & 0o111}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def model_folder(dest: Path, record: ModelRecord) -> Path:
    """Where a model version sits in a context: ``dest/azureml-models/<name>/<version>``."""
    return dest / MODELS_FOLDER / record.name / str(record.version)


def write_model_files(ws: Workspace, dest: Path, models: Sequence[ModelRecord]) -> None:
    """``dest/azureml-models``: verified copies of the models' files."""
    for record in models:
        ws.models.download(
            Ref(record.name, record.version), model_folder(dest, record), durable=False
        )


def write_code_context(
    dest: Path, models: Sequence[ModelRecord], entry_script: Path | None, source_dir: Path | None
) -> AppContext:
    """``dest/azureml-app`` for this code, and the digests of it and of the models (whose
    files :func:`write_model_files` writes: nothing here needs them). Without an entry
    script (a no-code image) the app folder is empty."""
    model_files = [
        ModelFiles(r.name, r.version, model_folder(dest, r) / r.root_name) for r in models
    ]
    app = dest / APP_FOLDER
    write_app_dir(app, entry_script, source_dir, [])
    rel = script_relpath(entry_script, source_dir) if entry_script is not None else ""
    source_name = source_dir.resolve().name if source_dir is not None else None
    env = container_env(entry_script=rel, source_dir_name=source_name, models=model_files)
    script_in_app = app / env["AZUREML_ENTRY_SCRIPT"]
    return AppContext(
        env=env,
        entry_script=env["AZUREML_ENTRY_SCRIPT"],
        models={r.ref: model_digest(r) for r in models},
        script_sha256=sha256_file(script_in_app) if rel else "",
        app_sha256=tree_digest(app),
    )


def write_app_context(
    ws: Workspace,
    dest: Path,
    models: Sequence[ModelRecord],
    entry_script: Path | None,
    source_dir: Path | None,
) -> AppContext:
    """Write ``dest/azureml-models`` and ``dest/azureml-app`` for these models and code."""
    write_model_files(ws, dest, models)
    return write_code_context(dest, models, entry_script, source_dir)
