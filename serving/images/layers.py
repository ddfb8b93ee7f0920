"""Model layers without a build step: layer tarballs made here, loaded with ``docker load``.

A model image is its environment image plus three layers: the platform code, the model
files, then score.py and its source. Each layer is a reproducible tarball (sorted entries,
fixed times and owners), so an unchanged layer has the same digest and Docker keeps the copy
it already has instead of storing a new one. The image config is the parent's with the
model's settings, command and labels. Loading skips Docker's per-step containers and
commits, which cost seconds each on slow storage drivers (fuse-overlayfs).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from serving.images.context import FIXED_MTIME, tar_filter


@dataclass(frozen=True)
class LayerSource:
    """Put the contents of ``source`` at ``target`` (an absolute path in the image)."""

    source: Path
    target: str
    owner: int = 0
    parents: Mapping[str, int] | None = None
    """Owner of each folder on the way to ``target`` (default root), kept as in the image."""
    keep_pyc: bool = False
    created_by: str = ""


@dataclass(frozen=True)
class Layer:
    """A layer tarball written on disk, as the image's config and manifest name it."""

    path: Path
    """The uncompressed tarball."""
    diff_id: str
    """``sha256:`` and the tarball's digest: the layer's id in the image config."""
    created_by: str
    """What made the layer, shown by ``docker history``."""


def _dir_entry(name: str, owner: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.uid = info.gid = owner
    info.mtime = FIXED_MTIME
    return info


def write_layer(spec: LayerSource, dest: Path) -> Layer:
    """Write ``spec`` as a layer tarball at ``dest``; folders leading to the target are
    written with their owners so the layer does not change them."""
    target = PurePosixPath(spec.target)
    parents = dict(spec.parents or {})
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for depth in range(1, len(target.parts)):
            folder = PurePosixPath(*target.parts[1 : depth + 1]).as_posix()
            tar.addfile(_dir_entry(folder, parents.get("/" + folder, 0)))
        prefix = PurePosixPath(*target.parts[1:]).as_posix()
        keep = tar_filter(spec.owner, spec.keep_pyc)
        for child in sorted(spec.source.iterdir()):
            tar.add(child, arcname=f"{prefix}/{child.name}", filter=keep)
    digest = hashlib.sha256()
    with dest.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return Layer(dest, f"sha256:{digest.hexdigest()}", spec.created_by)


def _history(parent_history: Sequence[Mapping[str, Any]], layer_count: int) -> list[dict[str, Any]]:
    """The parent's history (oldest first) in image-config form, when it accounts for its
    layers exactly; else one placeholder entry per layer."""
    entries = [
        {
            "created": datetime.fromtimestamp(int(e.get("Created", 0)), UTC).isoformat(),
            "created_by": str(e.get("CreatedBy", "")),
            **({"comment": e["Comment"]} if e.get("Comment") else {}),
            **({} if int(e.get("Size", 0)) > 0 else {"empty_layer": True}),
        }
        for e in reversed(parent_history)
    ]
    if sum(1 for e in entries if not e.get("empty_layer")) == layer_count:
        return entries
    return [{"created_by": "(a layer of the environment image)"} for _ in range(layer_count)]


def _env_list(current: Sequence[str] | None, updates: Mapping[str, str]) -> list[str]:
    names = [item.split("=", 1)[0] for item in current or ()]
    values = {item.split("=", 1)[0]: item.partition("=")[2] for item in current or ()}
    values.update(updates)
    names += [name for name in updates if name not in names]
    return [f"{name}={values[name]}" for name in names]


def image_config(
    parent: Mapping[str, Any],
    parent_history: Sequence[Mapping[str, Any]],
    layers: Sequence[Layer],
    *,
    env: Mapping[str, str],
    cmd: Sequence[str],
    labels: Mapping[str, str],
    created: datetime,
) -> dict[str, Any]:
    """The new image's config: ``parent`` (``docker inspect`` form) plus ``layers``, with
    ``env`` set, ``cmd`` as the command and ``labels`` added."""
    config = dict(parent.get("Config") or {})
    config["Env"] = _env_list(config.get("Env"), env)
    config["Cmd"] = list(cmd)
    config["Labels"] = {**(config.get("Labels") or {}), **labels}
    config.pop("Image", None)
    stamp = created.isoformat()
    diff_ids = list(parent["RootFS"]["Layers"])
    history = _history(parent_history, len(diff_ids))
    history += [{"created": stamp, "created_by": layer.created_by} for layer in layers]
    history.append(
        {"created": stamp, "created_by": "serving: settings, command, labels", "empty_layer": True}
    )
    return {
        "architecture": parent.get("Architecture", "amd64"),
        "os": parent.get("Os", "linux"),
        "created": stamp,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [*diff_ids, *(layer.diff_id for layer in layers)]},
        "history": history,
    }


@contextmanager
def image_archive(config: Mapping[str, Any], layers: Sequence[Layer]) -> Iterator[IO[bytes]]:
    """A ``docker load`` archive of an image whose lower layers Docker already has: only
    ``layers`` (the top ones) are included."""
    blob = json.dumps(config, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(blob).hexdigest()}.json"
    paths = [f"{d.split(':', 1)[1]}/layer.tar" for d in config["rootfs"]["diff_ids"]]
    manifest = json.dumps([{"Config": config_name, "RepoTags": None, "Layers": paths}]).encode()
    with ExitStack() as stack:
        handle = stack.enter_context(tempfile.TemporaryFile(prefix="serving-load-"))
        with tarfile.open(fileobj=handle, mode="w") as tar:
            for name, data in ((config_name, blob), ("manifest.json", manifest)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = FIXED_MTIME
                tar.addfile(info, io.BytesIO(data))
            for layer in layers:
                tar.add(layer.path, arcname=f"{layer.diff_id.split(':', 1)[1]}/layer.tar")
        handle.seek(0)
        yield handle
