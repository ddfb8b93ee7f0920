"""``serving serve``: run an entry script locally under the real server, like ``azmlinfsrv``.

Lays out a temporary app folder the way model images do (code copied, models linked), then
runs gunicorn in the foreground with this interpreter until Ctrl-C or SIGTERM. Without
``--entry-script`` the platform's no-code scorer serves the model (its framework detected
from the files, or given with ``--framework``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import click

from serving.cli.common import batch_options
from serving.config import ServerSettings
from serving.errors import NotFoundError, UserInputError
from serving.images.model import serve_nocode
from serving.proc import run_foreground
from serving.scoring.layout import MODELS_FOLDER, AppLayout, write_app_dir
from serving.server.gunicorn import gunicorn_argv, gunicorn_env

_VERSION = re.compile(r"^\d+$")


def is_models_tree(folder: Path) -> bool:
    """Whether ``folder`` looks like ``azureml-models``: ``<name>/<int version>/<entry>``."""
    names = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not names or not all(p.is_dir() for p in names):
        return False
    for name in names:
        versions = list(name.iterdir())
        if not versions or not all(v.is_dir() and _VERSION.fullmatch(v.name) for v in versions):
            return False
    return True


def prepare_app(
    app_root: Path,
    entry_script: Path | None,
    model_dir: Path,
    source_dir: Path | None,
    model_name: str | None = None,
) -> AppLayout:
    """Write the app folder and link the models; returns the layout with AZUREML_MODEL_DIR.

    An ``azureml-models``-shaped ``model_dir`` becomes the models root as is; any other
    folder is the one model's version folder (``AZUREML_MODEL_DIR`` points at its content,
    as with ``azmlinfsrv --model_dir``), named ``model_name`` or after the folder; a file
    is placed alone in such a version folder.
    """
    if not model_dir.exists():
        raise NotFoundError(f"model directory (or file) {model_dir} does not exist")
    layout = write_app_dir(app_root, entry_script, source_dir, [])
    models_root = app_root / MODELS_FOLDER
    model_dir = model_dir.resolve()
    if model_dir.is_dir() and is_models_tree(model_dir):
        models_root.symlink_to(model_dir, target_is_directory=True)
        return replace(layout, model_dir=models_root)
    name = model_name or (model_dir.name if model_dir.is_dir() else model_dir.stem)
    version_dir = models_root / name / "1"
    version_dir.parent.mkdir(parents=True)
    if model_dir.is_dir():
        version_dir.symlink_to(model_dir, target_is_directory=True)
    else:
        version_dir.mkdir()
        (version_dir / model_dir.name).symlink_to(model_dir)
    return replace(layout, model_dir=version_dir)


def nocode_framework(model_path: Path, framework: str | None) -> str:
    """The no-code framework for ``model_path``: ``framework``, else detected from its files."""
    from serving.registry.frameworks import detect
    from serving.scoring.nocode import FRAMEWORKS

    found = framework or detect(model_path.resolve()).framework
    if found not in FRAMEWORKS:
        raise UserInputError(
            f"no entry script and {model_path} is not an ONNX, scikit-learn or TensorFlow "
            "model that no-code serving can serve",
            hint="give --entry-script, or --framework if the files were not recognised",
        )
    return found


def serve_settings(
    layout: AppLayout, *, host: str, port: int, workers: int, threads: int, timeout_ms: int
) -> ServerSettings:
    """The server settings for a prepared app folder."""
    base = ServerSettings.from_env({**os.environ, **layout.env})
    return replace(
        base, host=host, port=port, workers=workers, threads=threads, scoring_timeout_ms=timeout_ms
    )


@click.command("serve")
@click.option(
    "--entry-script",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The score.py with init() and run() (relative to --source-dir if given). "
    "Without it the platform's no-code scorer serves the model.",
)
@click.option(
    "--model-dir",
    "--model-path",
    "model_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="The model folder (AZUREML_MODEL_DIR), an azureml-models/<name>/<version> tree, "
    "or a model file.",
)
@click.option(
    "--framework",
    type=click.Choice(["onnx", "sklearn", "tensorflow"]),
    help="No-code: the model's framework (default: detected from its files).",
)
@click.option(
    "--source-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder with the script and its helpers, copied as a whole.",
)
@click.option("--model-name", help="Name for Model.get_model_path (default: the folder name).")
@click.option("--port", default=5001, show_default=True, type=click.IntRange(1, 65535))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=ServerSettings.threads,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads per worker; above 1 runs concurrent requests per worker.",
)
@click.option(
    "--scoring-timeout-ms",
    default=ServerSettings.scoring_timeout_ms,
    show_default=True,
    type=click.IntRange(0),
    help="A run() longer than this answers 504 (0: no limit).",
)
@batch_options
def serve(
    entry_script: Path | None,
    model_dir: Path,
    framework: str | None,
    source_dir: Path | None,
    model_name: str | None,
    port: int,
    host: str,
    workers: int,
    threads: int,
    scoring_timeout_ms: int,
    max_batch_size: int | None,
    max_batch_delay_ms: float | None,
) -> None:
    """Serve an entry script (or, without one, the model itself) on
    http://HOST:PORT/score until interrupted."""
    if entry_script is None and source_dir is not None:
        raise UserInputError("--source-dir needs an --entry-script")
    nocode = nocode_framework(model_dir, framework) if entry_script is None else ""
    if source_dir is not None and not source_dir.is_dir():
        raise NotFoundError(f"source directory {source_dir} does not exist")
    if model_name is not None and "/" in model_name:
        raise UserInputError(f"model name {model_name!r} cannot contain '/'")
    temp = Path(tempfile.mkdtemp(prefix="serving-serve-"))
    try:
        layout = prepare_app(temp / "app", entry_script, model_dir, source_dir, model_name)
        settings = serve_settings(
            layout,
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            timeout_ms=scoring_timeout_ms,
        )
        if max_batch_size is not None:  # else SERVING_MAX_BATCH_SIZE or off
            settings = replace(settings, max_batch_size=max_batch_size)
        if max_batch_delay_ms is not None:
            settings = replace(settings, max_batch_delay_ms=max_batch_delay_ms)
        if nocode:
            version_dir = Path(layout.model_dir)
            one = version_dir.name != MODELS_FOLDER  # else a models tree: the scorer looks
            settings = serve_nocode(
                settings,
                nocode,
                version_dir.parent.name if one else "",
                version_dir.name if one else "",
            )
        code = run_server(settings)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    if code != 0:
        raise click.exceptions.Exit(code)


def run_server(settings: ServerSettings) -> int:
    """Run gunicorn for ``settings`` in the foreground; returns its exit code.

    SIGTERM is passed on (Ctrl-C reaches gunicorn through the terminal's process group).
    """
    env = {**os.environ, **gunicorn_env(settings)}
    click.echo(
        f"Serving on http://{settings.host}:{settings.port}/score (Ctrl-C to stop)", err=True
    )
    return run_foreground(gunicorn_argv(settings, python=sys.executable), env)
