"""The app folder an entry script runs in, laid out as Azure ML v1 images have it.

::

    <app_root>/<basename(source_dir)>/...              the code (AZUREML_SOURCE_DIRECTORY)
    <app_root>/azureml-models/<name>/<version>/<file>   each model (one entry per version)

:func:`plan_layout` computes paths and environment variables without touching the disk, for
any app root (``/var/azureml-app`` in images); :func:`write_app_dir` materialises it on this
machine for local deployments and ``serving serve``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING

from serving.errors import ConflictError, NotFoundError, UserInputError

if TYPE_CHECKING:
    from serving.sourcefiles import Entry

# serving.sourcefiles (and its pathspec) is imported where the app folder is written: model
# images carry only the runtime part of the package, which imports this module.

CONTAINER_APP_ROOT = PurePosixPath("/var/azureml-app")
"""The app root (and working directory) inside model images."""

MODELS_FOLDER = "azureml-models"

_MODEL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-._]{0,254}$")


@dataclass(frozen=True)
class ModelFiles:
    """One model version, materialised on this machine as a file or a folder."""

    name: str
    version: int
    path: Path


@dataclass(frozen=True)
class AppLayout:
    """Where things are in an app folder, and the variables a server there runs with."""

    app_root: PurePath
    source_dir_name: str | None
    """Basename of the code folder under the app root (None: the script sits in the root)."""
    entry_script: str
    """AZUREML_ENTRY_SCRIPT: the script relative to the app root, with '/'."""
    model_dir: PurePath
    """AZUREML_MODEL_DIR: the version folder of a single model, else the models root."""
    model_paths: tuple[PurePath, ...]
    """Each model's file or folder, in the order given."""

    @property
    def env(self) -> dict[str, str]:
        """AML_APP_ROOT, AZUREML_SOURCE_DIRECTORY, AZUREML_ENTRY_SCRIPT, AZUREML_MODEL_DIR."""
        env = {
            "AML_APP_ROOT": str(self.app_root),
            "AZUREML_ENTRY_SCRIPT": self.entry_script,
            "AZUREML_MODEL_DIR": str(self.model_dir),
        }
        if self.source_dir_name is not None:
            env["AZUREML_SOURCE_DIRECTORY"] = self.source_dir_name
        return env


def plan_layout(
    app_root: PurePath,
    *,
    entry_script: str,
    source_dir_name: str | None,
    models: Sequence[ModelFiles],
) -> AppLayout:
    """Compute the layout for ``entry_script`` (relative to the source folder, '/'; empty
    for a no-code deployment, which has no code).

    Pure: nothing is read or written. Validates model names and duplicate versions.
    """
    _check_models(models)
    models_root = app_root / MODELS_FOLDER
    paths = tuple(models_root / m.name / str(m.version) / m.path.name for m in models)
    model_dir = paths[0].parent if len(paths) == 1 else models_root
    if not entry_script:
        return AppLayout(app_root, None, "", model_dir, paths)
    script = PurePosixPath(entry_script)
    if script.is_absolute() or ".." in script.parts:
        raise UserInputError(f"entry script {entry_script!r} must be relative to its source folder")
    if source_dir_name in ("", ".", "..", MODELS_FOLDER):
        raise UserInputError(f"source folder name {source_dir_name!r} cannot be used")
    rel = f"{source_dir_name}/{script.as_posix()}" if source_dir_name else script.as_posix()
    return AppLayout(app_root, source_dir_name, rel, model_dir, paths)


def container_env(
    *, entry_script: str, source_dir_name: str | None, models: Sequence[ModelFiles]
) -> dict[str, str]:
    """The layout variables for an image, whose app root is ``/var/azureml-app``."""
    return plan_layout(
        CONTAINER_APP_ROOT,
        entry_script=entry_script,
        source_dir_name=source_dir_name,
        models=models,
    ).env


def script_relpath(entry_script: Path, source_dir: Path | None) -> str:
    """The entry script relative to its source folder, with '/'.

    Like Azure's InferenceConfig, a relative ``entry_script`` is first looked up inside
    ``source_dir``, then relative to the current directory.
    """
    if source_dir is None:
        if not entry_script.is_file():
            raise NotFoundError(f"entry script {entry_script} does not exist")
        return entry_script.name
    if not source_dir.is_dir():
        raise NotFoundError(f"source directory {source_dir} does not exist")
    if not entry_script.is_absolute() and (source_dir / entry_script).is_file():
        return PurePosixPath(*entry_script.parts).as_posix()
    if entry_script.is_file():
        try:
            return entry_script.resolve().relative_to(source_dir.resolve()).as_posix()
        except ValueError:
            raise UserInputError(
                f"entry script {entry_script} is not inside the source directory {source_dir}"
            ) from None
    raise NotFoundError(f"entry script {entry_script} not found in {source_dir} or here")


def check_source(entry_script: Path, source_dir: Path) -> None:
    """Raise what :func:`write_app_dir` would about the source folder (a workspace, a link
    pointing outside, the entry script left out), without writing: targets call it before
    they build anything."""
    _source_entries(source_dir.resolve(), script_relpath(entry_script, source_dir))


def write_app_dir(
    app_root: Path,
    entry_script: Path | None,
    source_dir: Path | None,
    models: Sequence[ModelFiles],
    *,
    symlink_models: bool = False,
) -> AppLayout:
    """Create the app folder at ``app_root`` (absent or empty) and return its layout.

    The source folder is copied to ``app_root/<basename>`` by :mod:`serving.sourcefiles`
    (the same for every target): workspaces (``.serving/``, folders holding
    ``workspace.db``), ``__pycache__``, ``*.pyc`` and ``.git`` are left out, and so is what
    its ``.amlignore`` (else ``.dockerignore``) lists; symbolic links pointing inside the
    folder are copied as their targets, links pointing outside, broken links and link loops
    are refused (:class:`UserInputError`). Without a source folder, only the entry script is
    copied into the app root; without an entry script (no-code), nothing is. Model files
    are hard-linked where possible, else copied, or symlinked when ``symlink_models``.
    """
    app_root = Path(app_root).absolute()
    rel = script_relpath(entry_script, source_dir) if entry_script is not None else ""
    for model in models:
        if not model.path.exists():
            raise NotFoundError(f"model {model.name}:{model.version} has no files at {model.path}")
    layout = plan_layout(
        app_root,
        entry_script=rel,
        source_dir_name=source_dir.resolve().name if source_dir is not None else None,
        models=models,
    )
    if app_root.exists() and (not app_root.is_dir() or any(app_root.iterdir())):
        raise ConflictError(f"app folder {app_root} already exists and is not empty")
    source = source_dir.resolve() if source_dir is not None else None
    if source is not None and _copied_from(app_root.resolve(), source):
        raise UserInputError(f"app folder {app_root} cannot be inside the source {source}")
    entries = _source_entries(source, rel) if source is not None else []
    app_root.mkdir(parents=True, exist_ok=True)
    if source is None:
        if entry_script is not None:
            shutil.copy2(entry_script, app_root / rel)
    else:
        from serving.sourcefiles import copy_entries

        copy_entries(entries, app_root / source.name)
    if models:  # callers that place models themselves get no empty folder to remove
        (app_root / MODELS_FOLDER).mkdir(exist_ok=True)
    for model, dest in zip(models, layout.model_paths, strict=True):
        _place_model(model.path, Path(dest), symlink=symlink_models)
    return layout


def _copied_from(folder: Path, source: Path) -> bool:
    """Whether ``folder`` lies in ``source`` outside every workspace there (which is left
    out: the app folder of a local deployment may sit in ``source/.serving``)."""
    from serving.sourcefiles import is_workspace

    if not folder.is_relative_to(source):
        return False
    parts = folder.relative_to(source).parts
    return not any(is_workspace(source.joinpath(*parts[: i + 1])) for i in range(len(parts)))


def _source_entries(source: Path, script: str) -> list[Entry]:
    """What of ``source`` is copied; the entry script must be part of it."""
    from serving.sourcefiles import source_entries

    entries, rules = source_entries(source)
    if not any(e.rel == script and not e.is_dir for e in entries):
        by = f" by its {rules.file}" if rules.file else ""
        raise UserInputError(
            f"entry script {script} is left out of the source folder {source}{by}",
            hint="change the pattern that matches it",
        )
    return entries


def _check_models(models: Sequence[ModelFiles]) -> None:
    seen: set[tuple[str, int]] = set()
    for model in models:
        if not _MODEL_NAME.fullmatch(model.name):
            raise UserInputError(
                f"model name {model.name!r} is not valid",
                hint="use letters, digits, '-', '.' and '_', starting with a letter or digit",
            )
        if model.version < 0:
            raise UserInputError(f"model {model.name} has a negative version {model.version}")
        if (model.name, model.version) in seen:
            raise UserInputError(f"model {model.name}:{model.version} is listed twice")
        seen.add((model.name, model.version))


def _place_model(src: Path, dest: Path, *, symlink: bool) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if symlink:
        dest.symlink_to(src.resolve(), target_is_directory=src.is_dir())
    elif src.is_dir():
        shutil.copytree(src, dest, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(src), str(dest))


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst
