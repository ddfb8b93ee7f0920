"""Local virtual environments built from an :class:`EnvSpec`, keyed by its content hash.

Commands are argv lists from pure functions; :func:`ensure_venv` runs them. A venv is
usable only once its ``.ready`` marker exists (written last); anything else under the
environments root is debris from an interrupted build and is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import serving
from serving.environments.interpreter_probe import probe_argv
from serving.environments.pipcmd import pip_argv, pip_failure
from serving.environments.runtime import runtime_requirements
from serving.environments.spec import EnvSpec
from serving.errors import EnvironmentSpecError
from serving.proc import file_lock, run_streaming

READY_MARKER = ".ready"
PTH_NAME = "serving-runtime.pth"

Progress = Callable[[str], None]


def venv_path(spec: EnvSpec, envs_root: Path) -> Path:
    """Where the environment for ``spec`` lives: ``envs_root/<first 16 hash digits>``."""
    return envs_root / spec.content_hash()[:16]


def venv_python(venv: Path) -> Path:
    """The venv's interpreter."""
    return venv / "bin" / "python"


def site_packages(venv: Path, python: str) -> Path:
    """The venv's site-packages for Python ``X.Y`` (POSIX layout)."""
    return venv / "lib" / f"python{python}" / "site-packages"


def runtime_path_entry() -> Path:
    """The directory holding the ``serving`` package."""
    return Path(serving.__file__).resolve().parent.parent


def link_runtime(venv: Path, python: str) -> Path:
    """Make the platform's ``serving`` package (and only it) importable in ``venv``.

    A folder inside the venv holds a symlink to the package and the .pth file adds that
    folder: adding the package's parent instead would expose everything beside it (the
    whole site-packages of a normal install).
    """
    holder = venv / "serving-runtime"
    holder.mkdir(exist_ok=True)
    link = holder / "serving"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(Path(serving.__file__).resolve().parent, target_is_directory=True)
    pth = site_packages(venv, python) / PTH_NAME
    pth.write_text(f"{holder}\n", encoding="utf-8")
    return holder


def version_probe_argv(python: str) -> list[str]:
    """Prints the interpreter's facts as a JSON line (:mod:`.interpreter_probe`), run by
    path: the interpreter need not have the platform installed."""
    return probe_argv(python)


def venv_create_argv(python: str, venv: Path) -> list[str]:
    """Creates a venv (with pip) at ``venv`` using ``python``."""
    return [python, "-m", "venv", str(venv)]


def pip_install_argv(
    venv: Path,
    requirements: Sequence[str],
    pip_options: Sequence[str] = (),
    index_url: str | None = None,
) -> list[str]:
    """``<venv>/bin/python -m pip install ...`` for the given requirement lines.

    Option lines split into option and value; ``index_url`` comes after them so it
    wins. Requirement lines stay one argument each (markers contain spaces), except
    ``--editable PATH`` lines, which split like options.
    """
    argv = pip_argv(str(venv_python(venv)), "install", pip_options=pip_options, index_url=index_url)
    for line in requirements:
        argv += line.split(maxsplit=1) if line.startswith("-") else [line]
    return argv


def _probe(python: str) -> str | None:
    try:
        result = subprocess.run(
            version_probe_argv(python), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        return str(json.loads(result.stdout.strip().splitlines()[-1])["python"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def find_interpreter(version: str, explicit: str | None = None) -> str:
    """An interpreter for Python ``X.Y``: ``explicit``, this one, or ``pythonX.Y`` on PATH."""
    candidates = [explicit, sys.executable, shutil.which(f"python{version}")]
    found: dict[str, str | None] = {}
    for candidate in candidates:
        if not candidate or candidate in found:
            continue
        found[candidate] = _probe(candidate)
        if found[candidate] == version:
            return candidate
    seen = ", ".join(f"{path} ({got or 'not runnable'})" for path, got in found.items())
    raise EnvironmentSpecError(
        f"no Python {version} interpreter found; tried: {seen}",
        hint=f"install python{version} on PATH or name an interpreter with SERVING_PYTHON",
    )


def _run(argv: list[str], say: Progress, failure: str) -> None:
    code, tail = run_streaming(argv, say)
    if code != 0:
        raise pip_failure(failure, code, tail)


def _is_ready(venv: Path, spec: EnvSpec) -> bool:
    try:
        marker = json.loads((venv / READY_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("content_hash") == spec.content_hash()


def _build(spec: EnvSpec, venv: Path, interpreter: str, say: Progress, index: str | None) -> None:
    say(f"creating environment {spec.name} ({spec.short_hash}) with {interpreter}")
    _run(venv_create_argv(interpreter, venv), say, f"could not create a venv with {interpreter}")
    requirements = [*spec.requirements, *runtime_requirements()]
    _run(
        pip_install_argv(venv, requirements, spec.pip_options, index),
        say,
        f"pip could not install environment {spec.name} ({spec.short_hash})",
    )
    link_runtime(venv, spec.python)
    marker = {
        "content_hash": spec.content_hash(),
        "spec": spec.to_dict(),
        "runtime": runtime_requirements(),
        "interpreter": interpreter,
    }
    partial = venv / f"{READY_MARKER}.tmp"
    partial.write_text(json.dumps(marker, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, venv / READY_MARKER)


def ensure_venv(
    spec: EnvSpec,
    envs_root: Path,
    *,
    python: str | None = None,
    progress: Progress | None = None,
    index_url: str | None = None,
) -> Path:
    """Create, or reuse, the virtual environment for ``spec`` and return its path.

    Installs the spec's requirements plus the serving runtime with pip, and makes the
    platform's ``serving`` package importable through a .pth file (not installed).
    ``python`` names a preferred interpreter; ``progress`` receives pip's output lines.
    Concurrent callers for one spec wait for each other; a failed or interrupted build
    leaves nothing behind. Raises :class:`~serving.errors.EnvironmentSpecError`.
    """
    say: Progress = progress or (lambda _line: None)
    venv = venv_path(spec, envs_root)
    if _is_ready(venv, spec):
        return venv
    envs_root.mkdir(parents=True, exist_ok=True)
    with file_lock(
        envs_root / f"{venv.name}.lock", say, f"waiting for another process building {venv.name}"
    ):
        if _is_ready(venv, spec):
            say(f"reusing environment {venv}")
            return venv
        if venv.exists():
            say(f"removing incomplete environment {venv}")
            shutil.rmtree(venv)
        interpreter = find_interpreter(spec.python, python)
        try:
            _build(spec, venv, interpreter, say, index_url)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
    return venv
