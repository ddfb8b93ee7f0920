"""Runtime flavours: the images model images start from, one folder each under ``images/``.

A flavour image is the base plus the serving runtime's packages (Flask, gunicorn,
inference-schema, prometheus-client and the flavour's own extras) in ``/opt/serving/runtime``.
It is tagged ``serving-runtime:<flavour>-py<X.Y>-<key>``, the key hashing what goes in (the
Dockerfile, the requirements and the base image id), and reused while the key holds.

The platform's own server and scoring code (:func:`write_platform_code`) is added to model
images as a separate layer above the environment, so changing it never rebuilds one.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import serving
from serving.environments import EnvSpec, runtime_requirements
from serving.environments.spec import requirement_names
from serving.errors import NotFoundError, UserInputError
from serving.images.bases import BaseFacts, ResolvedBase
from serving.images.context import build_in_folder
from serving.images.dockerfile import PLATFORM_LIB
from serving.images.engine import Progress, find_image
from serving.images.wheelhouse import ensure_wheelhouse, link_wheels

if TYPE_CHECKING:
    from docker import DockerClient

FLAVOURS = ("cpu", "onnx")
AUTO = "auto"
REPOSITORY = "serving-runtime"
RUNTIME_WHEELS = "runtime/wheelhouse"
"""Where a flavour's wheels (and the requirements.txt to install) sit in a build context."""
RUNTIME_PARTS = (
    "__init__.py",
    "config.py",
    "errors.py",
    "scoring",
    "server",
    "edge/__init__.py",
    "edge/runtime",
    # the azureml shims' run side (``azureml.core`` imports ``Run``): standard library only
    "proc.py",
    "sourcefiles.py",
    "workspace.py",
    "registry",
    "runs",
    "sdk/__init__.py",
    "sdk/run.py",
)
"""The parts of the ``serving`` package a scoring server imports (checked by import-linter:
the server depends on scoring, config and errors only), the edge-mode bridge
(``python -m serving.edge.runtime``: scoring, server logging and paho-mqtt), and what the
``azureml`` shims import for ``Run`` (``azureml.core`` fails to import without it)."""


@dataclass(frozen=True)
class Flavour:
    name: str
    dockerfile: str
    extras: tuple[str, ...]

    @property
    def requirements(self) -> list[str]:
        """What its runtime venv installs: the serving runtime plus the flavour's extras."""
        return [*runtime_requirements(), *self.extras]


@dataclass(frozen=True)
class FlavourImage:
    flavour: Flavour
    tag: str
    image_id: str
    key: str
    base: ResolvedBase
    reused: bool


def images_root() -> Path:
    """The ``images/`` folder next to the ``serving`` package (a source checkout)."""
    root = Path(serving.__file__).resolve().parent.parent / "images"
    if not root.is_dir():
        raise NotFoundError(
            f"the images/ folder with the flavour Dockerfiles is missing (looked in {root})",
            hint="install serving from a source checkout (pip install -e .)",
        )
    return root


def load_flavour(name: str) -> Flavour:
    if name not in FLAVOURS:
        raise UserInputError(f"unknown flavour {name!r}: use one of {', '.join(FLAVOURS)}")
    folder = images_root() / name
    extras: list[str] = []
    requirements = folder / "requirements.txt"
    if requirements.is_file():
        for line in requirements.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                extras.append(line)
    return Flavour(name, (folder / "Dockerfile").read_text(encoding="utf-8"), tuple(extras))


def choose_flavour(spec: EnvSpec, requested: str = AUTO) -> Flavour:
    """``auto``: the ONNX flavour for environments that use onnxruntime, else ``cpu``."""
    if requested != AUTO:
        return load_flavour(requested)
    return load_flavour("onnx" if "onnxruntime" in requirement_names(spec) else "cpu")


def runtime_sources() -> list[tuple[str, Path]]:
    """(path inside ``serving/``, file) for every runtime file, sorted."""
    package = Path(serving.__file__).resolve().parent
    files: list[tuple[str, Path]] = []
    for part in RUNTIME_PARTS:
        path = package / part
        found = [path] if path.is_file() else sorted(path.rglob("*"))
        for item in found:
            if item.is_file() and "__pycache__" not in item.parts and item.suffix != ".pyc":
                files.append((item.relative_to(package).as_posix(), item))
    return sorted(files)


def flavour_key(flavour: Flavour, base_id: str) -> str:
    """sha256 of what a flavour image is made of."""
    digest = hashlib.sha256()
    for part in (flavour.name, flavour.dockerfile, *flavour.requirements, base_id):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def code_digest() -> str:
    """sha256 of the platform's runtime code (paths and contents) and version."""
    digest = hashlib.sha256(serving.__version__.encode() + b"\0")
    for rel, path in runtime_sources():
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def compile_argv(folder: Path, in_image: str) -> list[str]:
    """Byte-compile ``folder`` as if it sat at ``in_image``, with hash-checked .pyc files."""
    return [
        sys.executable,
        "-m",
        "compileall",
        "-q",
        "-d",
        in_image,
        "--invalidation-mode",
        "unchecked-hash",
        str(folder),
    ]


def write_platform_code(dest: Path, python: str) -> None:
    """``dest/serving/`` (the runtime code) and ``dest/serving.dist-info`` (its version),
    byte-compiled when this interpreter is Python ``python`` (hash-checked .pyc files, valid
    whatever the file times)."""
    code = dest / "serving"
    for rel, path in runtime_sources():
        target = code / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    info = dest / "serving.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: serving\nVersion: {serving.__version__}\n"
        "Summary: serving runtime (server and scoring code only)\n"
    )
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python:
        # A fresh interpreter and the in-image path make the .pyc bytes reproducible.
        subprocess.run(
            compile_argv(code, f"{PLATFORM_LIB}/serving"), check=True, capture_output=True
        )


def flavour_tag(flavour: Flavour, python: str, key: str) -> str:
    return f"{REPOSITORY}:{flavour.name}-py{python}-{key[:12]}"


def ensure_flavour(
    client: DockerClient,
    wheel_root: Path,
    flavour: Flavour,
    base: ResolvedBase,
    facts: Callable[[], BaseFacts],
    *,
    python: str,
    index_url: str | None,
    progress: Progress,
) -> FlavourImage:
    """Build (or reuse) the flavour image on ``base``; ``facts`` (the base's Python, glibc
    and machine) is only asked for when the image must be built."""
    key = flavour_key(flavour, base.image_id or base.ref)
    tag = flavour_tag(flavour, python, key)
    existing = find_image(client, tag)
    if existing is not None:
        progress(f"runtime {flavour.name}: reusing {tag}")
        return FlavourImage(flavour, tag, str(existing.id), key, base, True)
    progress(f"runtime {flavour.name}: building {tag} from {base.ref}")
    wheels = ensure_wheelhouse(
        wheel_root, flavour.requirements, facts(), index_url=index_url, progress=progress
    )

    def fill(context: Path) -> None:
        (context / "Dockerfile").write_text(flavour.dockerfile)
        link_wheels(wheels, context / RUNTIME_WHEELS)

    buildargs = {"BASE_IMAGE": base.ref}
    out = build_in_folder(client, fill, tag=tag, progress=progress, buildargs=buildargs)
    return FlavourImage(flavour, tag, out.image_id, key, base, False)
