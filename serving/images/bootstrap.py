"""Build a base image with no container registry: a minimal Debian root file system made
by ``mmdebstrap`` (or ``debootstrap``) from the host's configured Debian mirror, with Python
and venv from Debian, imported into Docker as ``serving-base:<python>-<suite>``.

The mirror is read from the host's apt sources at run time (``/etc/apt/sources.list`` and
``sources.list.d/*.list|*.sources``); no mirror host is written here. The Python version
follows the Debian suite, so only the versions of the suites below can be bootstrapped.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from serving.config import SUPPORTED_PYTHONS
from serving.errors import UserInputError
from serving.images.engine import Progress, find_image, images_with_label
from serving.images.errors import ImageBuildError
from serving.proc import file_lock, run_streaming

if TYPE_CHECKING:
    from docker import DockerClient

SUITE_PYTHON: dict[str, str] = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}
"""Debian suite -> the major.minor of its ``python3``."""

BASE_REPOSITORY = "serving-base"
PYTHON_LABEL = "serving.base.python"
DEFAULT_PACKAGES = ("python3", "python3-venv", "ca-certificates", "libstdc++6")
"""libstdc++6 is assumed present by manylinux wheels (onnxruntime, scipy)."""
MERGED_USR_HOOK = Path("/usr/share/mmdebstrap/hooks/maybe-merged-usr")
_SLIM = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
_CLEANUP = (
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/* '
    '"$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old'
)


@dataclass(frozen=True)
class AptSource:
    """One apt source entry (``deb`` type only)."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None


@dataclass(frozen=True)
class BaseImage:
    """A bootstrapped base image."""

    tag: str
    image_id: str
    python: str
    suite: str
    size_bytes: int
    seconds: float
    reused: bool


def parse_deb822(text: str) -> list[AptSource]:
    """``*.sources`` stanzas (deb822) into sources; disabled and ``deb-src`` ones are left out."""
    out: list[AptSource] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        out.append(
            AptSource(
                tuple(fields.get("uris", "").split()),
                tuple(fields.get("suites", "").split()),
                tuple(fields.get("components", "").split()),
                fields.get("signed-by") or None,
            )
        )
    return [s for s in out if s.uris and s.suites]


def parse_sources_list(text: str) -> list[AptSource]:
    """One-line ``deb [options] URI SUITE COMPONENT...`` entries."""
    out: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        rest = line[4:].strip()
        signed_by = None
        if rest.startswith("["):
            options, _, rest = rest[1:].partition("]")
            for option in options.split():
                name, _, value = option.partition("=")
                if name == "signed-by":
                    signed_by = value
        parts = rest.split()
        if len(parts) >= 2:
            out.append(AptSource((parts[0],), (parts[1],), tuple(parts[2:]), signed_by))
    return out


def host_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every ``deb`` source configured on this machine."""
    sources: list[AptSource] = []
    main = apt_dir / "sources.list"
    if main.is_file():
        sources += parse_sources_list(main.read_text(encoding="utf-8", errors="replace"))
    folder = apt_dir / "sources.list.d"
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        if path.suffix == ".list":
            sources += parse_sources_list(text)
        elif path.suffix == ".sources":
            sources += parse_deb822(text)
    return sources


def codename(suite: str) -> str:
    """``bookworm-updates`` / ``bookworm/updates`` -> ``bookworm``."""
    return suite.replace("/", "-").split("-", 1)[0]


def bootstrap_pythons() -> dict[str, str]:
    """Python versions a bootstrap can provide (and deployments support) -> Debian suite."""
    return {py: suite for suite, py in SUITE_PYTHON.items() if py in SUPPORTED_PYTHONS}


def describe_available() -> str:
    """``3.11 (Debian bookworm)``: for messages."""
    return ", ".join(f"{py} (Debian {suite})" for py, suite in bootstrap_pythons().items())


def suite_for(python: str) -> str:
    """The Debian suite whose python3 is ``python``, or a one-line error naming the others."""
    suite = bootstrap_pythons().get(python)
    if suite is None:
        raise UserInputError(
            f"Python {python} cannot be bootstrapped from Debian; available: "
            f"{describe_available()}",
            hint=f"pick one of those, or set SERVING_BASE_IMAGE to an image that has Python "
            f"{python} (e.g. python:{python}-slim from your registry)",
        )
    return suite


def mirror_entries(sources: Sequence[AptSource], suite: str) -> list[str]:
    """The host's Debian entries retargeted to ``suite`` (updates/security kept), as
    one-line ``deb`` entries for mmdebstrap."""
    entries: list[str] = []
    for source in sources:
        suites = [
            suite + s.replace("/", "-")[len(codename(s)) :]
            for s in source.suites
            if codename(s) in SUITE_PYTHON
        ]
        if not suites or "main" not in source.components:
            continue
        options = f"[signed-by={source.signed_by}] " if source.signed_by else ""
        for uri in source.uris:
            entry = f"deb {options}{uri} {' '.join(dict.fromkeys(suites))} "
            entry += " ".join(source.components)
            if entry not in entries:
                entries.append(entry)
    if not entries:
        raise UserInputError(
            "no Debian mirror found in this machine's apt sources "
            "(/etc/apt/sources.list, /etc/apt/sources.list.d/)",
            hint="configure a Debian mirror for apt, or set SERVING_BASE_IMAGE",
        )
    return entries


def entry_uri(entry: str) -> str:
    """The URI of a one-line ``deb [options] URI SUITE...`` entry."""
    rest = entry.removeprefix("deb ").strip()
    if rest.startswith("["):
        rest = rest.partition("]")[2]
    return rest.split()[0]


def base_tag(python: str, suite: str) -> str:
    return f"{BASE_REPOSITORY}:{python}-{suite}"


def packages(extra: Sequence[str] = (), *, with_apt: bool = False) -> list[str]:
    return list(dict.fromkeys([*DEFAULT_PACKAGES, *(["apt"] if with_apt else []), *extra]))


def mmdebstrap_argv(
    suite: str, entries: Sequence[str], output: Path, include: Sequence[str], *, with_apt: bool
) -> list[str]:
    """A minimal root file system as a tarball; ``with_apt`` keeps apt (variant minbase)."""
    argv = ["mmdebstrap", f"--variant={'minbase' if with_apt else 'essential'}"]
    argv.append(f"--include={','.join(include)}")
    if MERGED_USR_HOOK.is_dir():
        argv.append(f"--hook-dir={MERGED_USR_HOOK}")
    argv += [f"--dpkgopt={opt}" for opt in _SLIM]
    argv += [f"--customize-hook={_CLEANUP}", "--format=tar", suite, str(output), *entries]
    return argv


def debootstrap_argv(suite: str, uri: str, root: Path, include: Sequence[str]) -> list[str]:
    """The debootstrap fallback: one mirror, variant minbase, into ``root``."""
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(include)}",
        suite,
        str(root),
        uri,
    ]


def import_changes(python: str, suite: str, entries: Sequence[str], seconds: float) -> list[str]:
    """Dockerfile instructions applied by ``docker import``."""
    mirror = entry_uri(entries[0])
    return [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["python3"]',
        f"LABEL {PYTHON_LABEL}={python} serving.base.suite={suite} "
        f"serving.base.mirror={mirror} serving.base.seconds={seconds:.0f} "
        f"serving.base.created={datetime.now(UTC).isoformat(timespec='seconds')}",
    ]


def find_bootstrapped(client: DockerClient, python: str) -> str | None:
    """The tag of a bootstrapped base with ``python``, if one is here."""
    for image in images_with_label(client, f"{PYTHON_LABEL}={python}"):
        for tag in image.tags:
            if tag.startswith(f"{BASE_REPOSITORY}:"):
                return str(tag)
    return None


def _stream(argv: list[str], progress: Progress, what: str) -> None:
    code, tail = run_streaming(argv, progress, keep=20)
    if code != 0:
        raise ImageBuildError(
            f"{what} failed (exit {code}): {tail[-1] if tail else 'no output'}",
            details="\n".join(tail),
        )


def _make_rootfs(
    suite: str,
    entries: list[str],
    include: list[str],
    tar_path: Path,
    progress: Progress,
    *,
    with_apt: bool,
) -> None:
    if shutil.which("mmdebstrap"):
        _stream(
            mmdebstrap_argv(suite, entries, tar_path, include, with_apt=with_apt),
            progress,
            "mmdebstrap",
        )
        return
    if not shutil.which("debootstrap"):
        raise UserInputError(
            "neither mmdebstrap nor debootstrap is installed",
            hint="install one: apt-get install mmdebstrap",
        )
    root = tar_path.parent / "rootfs"
    uri = entry_uri(entries[0])
    _stream(debootstrap_argv(suite, uri, root, include), progress, "debootstrap")
    for folder in (
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "var/lib/apt/lists",
        "var/cache/apt",
    ):
        shutil.rmtree(root / folder, ignore_errors=True)
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root, arcname=".")


def _import_rootfs(
    client: DockerClient,
    tag: str,
    python: str,
    entries: list[str],
    *,
    include: Sequence[str],
    with_apt: bool,
    progress: Progress,
    started: float,
) -> None:
    """Build the Debian root file system in a temporary folder and import it as ``tag``
    (labelled with the seconds since ``started``)."""
    suite = suite_for(python)
    progress(f"building a Debian {suite} root file system from {entries[0]}")
    with tempfile.TemporaryDirectory(prefix="serving-bootstrap-") as tmp:
        tar_path = Path(tmp) / "rootfs.tar"
        wanted = packages(include, with_apt=with_apt)
        _make_rootfs(suite, entries, wanted, tar_path, progress, with_apt=with_apt)
        seconds = time.monotonic() - started
        progress(f"importing {tar_path.stat().st_size // 2**20} MiB into Docker as {tag}")
        repository, _, label = tag.partition(":")
        client.api.import_image(
            src=str(tar_path),
            repository=repository,
            tag=label,
            changes=import_changes(python, suite, entries, seconds),
        )


def bootstrap_base(
    client: DockerClient,
    python: str = "3.11",
    *,
    include: Sequence[str] = (),
    with_apt: bool = False,
    force: bool = False,
    progress: Progress,
    apt_dir: Path = Path("/etc/apt"),
) -> BaseImage:
    """Build (or reuse) ``serving-base:<python>-<suite>`` from the host's Debian mirror."""
    suite = suite_for(python)
    tag = base_tag(python, suite)
    started = time.monotonic()
    with file_lock(Path(tempfile.gettempdir()) / f"serving-bootstrap-{tag.replace(':', '-')}.lock"):
        image = None if force else find_image(client, tag)
        reused = image is not None
        if image is not None:
            progress(f"{tag} is already here: reusing it")
        else:
            entries = mirror_entries(host_sources(apt_dir), suite)
            _import_rootfs(
                client,
                tag,
                python,
                entries,
                include=include,
                with_apt=with_apt,
                progress=progress,
                started=started,
            )
            image = client.images.get(tag)
    seconds = 0.0 if reused else time.monotonic() - started
    size = int(image.attrs.get("Size", 0))
    return BaseImage(tag, str(image.id), python, suite, size, seconds, reused)


def ensure_package_image(
    client: DockerClient,
    tag: str,
    package: str,
    suite: str,
    what: str,
    changes: Callable[[str, str], list[str]],
    progress: Progress,
    *,
    apt_dir: Path = Path("/etc/apt"),
) -> str:
    """An image holding one Debian package (the cluster's HAProxy, the edge's Mosquitto),
    built with mmdebstrap from the host's Debian mirror when ``tag`` is missing; ``what``
    names it in messages ("balancer", "broker"), ``changes(suite, mirror)`` gives the
    ``docker import`` instructions (its command, labels)."""
    lock = Path(tempfile.gettempdir()) / f"serving-{what}-image.lock"
    with file_lock(lock, progress, f"waiting for another build of the {what} image"):
        if find_image(client, tag) is not None:
            progress(f"{what} image {tag}: reusing it")
            return tag
        if not shutil.which("mmdebstrap"):
            raise UserInputError(
                f"building the {what} image needs mmdebstrap",
                hint="install it (apt-get install mmdebstrap) and deploy again",
            )
        entries = mirror_entries(host_sources(apt_dir), suite)
        progress(f"building the {what} image {tag} ({package} from Debian {suite})")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"serving-{what}-") as tmp:
            tar_path = Path(tmp) / "rootfs.tar"
            argv = mmdebstrap_argv(suite, entries, tar_path, [package], with_apt=False)
            code, tail = run_streaming(argv, progress, keep=20)
            if code != 0:
                raise ImageBuildError(
                    f"mmdebstrap failed (exit {code}) building the {what} image",
                    details="\n".join(tail),
                )
            repository, _, label = tag.partition(":")
            client.api.import_image(
                src=str(tar_path),
                repository=repository,
                tag=label,
                changes=changes(suite, entry_uri(entries[0])),
            )
        progress(f"{what} image {tag} built in {time.monotonic() - started:.0f} s")
    return tag
