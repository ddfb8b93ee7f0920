"""A run's files: names inside the run folder, atomic copies in, listings, image sniffing.

Standard library only: training scripts import it.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath
from typing import IO, Any

from serving.runs.errors import UserErrorException
from serving.runs.store import NOT_ARTIFACTS

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def image_kind(path: Path) -> str | None:
    """The image type of ``path`` from its first bytes (``imghdr`` left Python in 3.13)."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    return None


def figure_artifact(name: str) -> str:
    """The artifact name of a figure logged as ``name``: v1's ``NAME_<unix time>.png`` with
    a short random part (two figures logged under one name within a second would otherwise
    share a file, and the first one's metric would show the second)."""
    return f"{name}_{int(time.time())}_{uuid.uuid4().hex[:6]}.png"


def save_figure(plot: Any, folder: Path) -> Path:
    """A matplotlib figure (or ``pyplot``: its current figure) as a PNG file in ``folder``."""
    figure = plot.gcf() if hasattr(plot, "gcf") else plot
    path = folder / "figure.png"
    figure.savefig(str(path), format="png")
    return path


def image_artifact(path: str | Path) -> str:
    """The artifact name of an image logged from a file (refused unless it is one): the
    path as given, normalised, when it stays below the current folder (``./plots/a.png``
    -> ``plots/a.png``), else the file's name (``/tmp/a.png``, ``../a.png`` -> ``a.png``)."""
    if not Path(path).is_file():
        raise UserErrorException(f"log_image: no file {str(path)!r}")
    if image_kind(Path(path)) is None:
        raise UserErrorException(f"{path} is not an image file (png, jpeg, gif, bmp, tiff, webp)")
    text = posixpath.normpath(str(path).replace("\\", "/"))
    outside = text.startswith(("/", "../")) or PureWindowsPath(str(path)).drive != ""
    return posixpath.basename(text) if outside else text


def metric_artifact(name: str) -> str:
    """The artifact name of a metric stored as a JSON file (a confusion matrix, a table of
    predictions): ``NAME_<random>.json``."""
    return f"{name}_{uuid.uuid4().hex[:8]}.json"


def artifact_path(run_dir: Path, name: str) -> Path:
    """Where artifact ``name`` lives; refuses names that leave the run folder or collide
    with the run's own bookkeeping (snapshot, metrics file)."""
    clean = str(name).replace("\\", "/").strip()
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or clean.startswith("/"):
        raise UserErrorException(f"artifact name {name!r} must be a relative path inside the run")
    if parts[0] in NOT_ARTIFACTS:
        raise UserErrorException(
            f"artifact name {name!r} is reserved (it starts with {parts[0]!r})"
        )
    return run_dir.joinpath(*parts)


def write_atomic(dest: Path, source: Path | IO[Any]) -> None:
    """Copy a file or a binary stream to ``dest`` through a temporary file in its folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, (str, Path)):
                with Path(source).open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            else:
                data = source.read()
                out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def names(run_dir: Path) -> list[str]:
    """Artifact names ('/'-separated) of a run, sorted."""
    return sorted(_walk(run_dir, ""))


def _walk(folder: Path, prefix: str) -> Iterator[str]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not prefix and entry.name in NOT_ARTIFACTS:
            continue
        if entry.name.endswith(".part") and entry.name.startswith("."):
            continue
        rel = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), rel + "/")
        elif entry.is_file(follow_symlinks=False):
            yield rel


def matching(run_dir: Path, path: str) -> list[str]:
    """The artifacts a model path names: the file itself, or everything under a folder
    (v1's prefix match, on whole path segments)."""
    wanted = str(path).replace("\\", "/").strip("/")
    every = names(run_dir)
    if wanted in every:
        return [wanted]
    return [n for n in every if n.startswith(wanted + "/")]
