"""The platform's own image, from the top-level ``Dockerfile`` of a source checkout.

Its dependencies are resolved on the host into a wheelhouse for the base's platform (like
model images), so the build needs no network; the default base is the bootstrapped one.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import serving
from serving.config import PlatformSettings
from serving.errors import ConflictError, NotFoundError
from serving.images.bases import check_python, probe, resolve_base
from serving.images.build import wheel_root
from serving.images.context import build_in_folder
from serving.images.engine import Progress, docker_session
from serving.images.wheelhouse import ensure_wheelhouse, link_wheels
from serving.workspace import Workspace

PLATFORM_PYTHON = "3.11"
CONTEXT_ITEMS = (
    "Dockerfile",
    "pyproject.toml",
    "README.md",
    "images",
    "scoring_templates",
    "serving",
)
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def source_root() -> Path:
    root = Path(serving.__file__).resolve().parent.parent
    if not (root / "Dockerfile").is_file() or not (root / "pyproject.toml").is_file():
        raise NotFoundError(
            f"no source checkout with a Dockerfile at {root}",
            hint="build the platform image from a clone of the repository",
        )
    return root


def project_requirements(root: Path) -> list[str]:
    """``[project].dependencies`` of the checkout's pyproject.toml."""
    if sys.version_info >= (3, 11):
        import tomllib

        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        return [str(r) for r in data["project"]["dependencies"]]
    from importlib import metadata  # pragma: no cover - Python 3.10

    return [r for r in metadata.requires("serving") or [] if "extra ==" not in r]


def write_platform_context(dest: Path, wheels: Path, root: Path) -> None:
    """The checkout's files the Dockerfile copies, plus ``wheelhouse/``."""
    for item in CONTEXT_ITEMS:
        source = root / item
        if source.is_dir():
            shutil.copytree(source, dest / item, ignore=_SKIP)
        elif source.is_file():
            shutil.copy2(source, dest / item)
    link_wheels(wheels, dest / "wheelhouse")


def build_platform_image(
    ws: Workspace,
    *,
    tag: str | None = None,
    output: Path | None = None,
    settings: PlatformSettings | None = None,
    progress: Progress,
) -> dict[str, Any]:
    """Build ``serving-platform:<version>`` (or write its context into ``output``)."""
    settings = settings or PlatformSettings.from_env()
    root = source_root()
    with docker_session(settings) as client:
        base = resolve_base(client, PLATFORM_PYTHON, settings, progress)
        facts = probe(client, base)
        check_python(base, facts, PLATFORM_PYTHON)
        wheels = ensure_wheelhouse(
            wheel_root(ws),
            project_requirements(root),
            facts,
            index_url=settings.pip_index_url,
            progress=progress,
        )
        tag = tag or f"serving-platform:{serving.__version__}"
        if output is not None:
            if output.exists() and any(output.iterdir()):
                raise ConflictError(f"{output} already exists and is not empty")
            output.mkdir(parents=True, exist_ok=True)
            write_platform_context(output, wheels, root)
            return {"tag": tag, "path": str(output), "base_image": base.ref}
        out = build_in_folder(
            client,
            lambda context: write_platform_context(context, wheels, root),
            tag=tag,
            progress=progress,
            buildargs={"BASE_IMAGE": base.ref},
        )
        image = client.images.get(out.image_id)
        return {
            "tag": tag,
            "image_id": out.image_id,
            "base_image": base.ref,
            "size_bytes": int(image.attrs.get("Size", 0)),
        }
