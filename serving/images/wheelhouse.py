"""Wheelhouses: every wheel an image needs, resolved on the host for the image's platform.

Builds never reach the network: ``pip download --only-binary=:all:`` fetches wheels for the
base's Python, glibc and machine into a folder of the workspace (keyed by what was asked
for, reused by later builds), and the image installs from it with ``--no-index``. A package
with no matching wheel is built with ``pip wheel`` when this interpreter has the image's
Python version. A wheelhouse is complete once its ``.ready`` marker exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from serving.environments.pipcmd import pip_argv, pip_failure
from serving.images.bases import BaseFacts
from serving.images.engine import Progress
from serving.proc import file_lock, run_streaming

READY = ".ready"
INSTALL_FILE = "requirements.txt"
"""What the image installs (written into the wheelhouse; pip itself is not in it)."""
PIP_REQUIREMENT = "pip"
"""Downloaded too: the image runs pip from its wheel, so no pip ends up installed."""
_MISSING = ("No matching distribution", "Could not find a version")


def platform_tags(facts: BaseFacts) -> list[str]:
    """pip ``--platform`` values for the base: every manylinux glibc version it can run,
    newest first, and the legacy aliases (pip does not expand one into the older ones)."""
    major, _, minor = facts.glibc.partition(".")
    newest = int(minor or 0) if major == "2" else 17
    tags = [f"manylinux_2_{m}_{facts.arch}" for m in range(newest, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags += [f"{name}_{facts.arch}" for m, name in legacy.items() if m <= newest]
    return tags


def wheels_argv(
    dest: Path,
    requirements_file: Path,
    facts: BaseFacts | None,
    *,
    pip_options: Sequence[str] = (),
    index_url: str | None = None,
    python: str = sys.executable,
) -> list[str]:
    """``pip download`` of binary wheels for the base's platform (``facts``) into ``dest``;
    with ``facts`` None, ``pip wheel``: the fallback that also builds source distributions
    (for the host's platform)."""
    if facts is None:
        argv = pip_argv(python, "wheel", pip_options=pip_options, index_url=index_url)
        return [*argv, "--wheel-dir", str(dest), "-r", str(requirements_file)]
    wanted = ["--only-binary=:all:", "--implementation", "cp", "--python-version", facts.python]
    for tag in platform_tags(facts):
        wanted += ["--platform", tag]
    argv = pip_argv(python, "download", *wanted, pip_options=pip_options, index_url=index_url)
    return [*argv, "--dest", str(dest), "-r", str(requirements_file)]


def wheelhouse_key(
    requirements: Sequence[str], facts: BaseFacts, pip_options: Sequence[str]
) -> str:
    text = json.dumps(
        {
            "requirements": sorted(requirements),
            "platform": [facts.python, facts.glibc, facts.arch],
            "pip_options": list(pip_options),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fill(
    dest: Path,
    requirements: Sequence[str],
    facts: BaseFacts,
    pip_options: Sequence[str],
    index_url: str | None,
    progress: Progress,
) -> None:
    wanted = dest / "download.txt"
    wanted.write_text("".join(f"{r}\n" for r in [*requirements, PIP_REQUIREMENT]))
    code, tail = run_streaming(
        wheels_argv(dest, wanted, facts, pip_options=pip_options, index_url=index_url), progress
    )
    if code != 0:
        same_python = f"{sys.version_info.major}.{sys.version_info.minor}" == facts.python
        if not (same_python and any(m in line for line in tail for m in _MISSING)):
            raise pip_failure(f"no wheels for Python {facts.python} ({facts.arch})", code, tail)
        progress("some packages have no wheel for the image: building them with pip wheel")
        code, tail = run_streaming(
            wheels_argv(dest, wanted, None, pip_options=pip_options, index_url=index_url), progress
        )
        if code != 0:
            raise pip_failure("pip wheel failed", code, tail)
    wanted.unlink()
    (dest / INSTALL_FILE).write_text("".join(f"{r}\n" for r in requirements))


def ensure_wheelhouse(
    root: Path,
    requirements: Sequence[str],
    facts: BaseFacts,
    *,
    pip_options: Sequence[str] = (),
    index_url: str | None = None,
    progress: Progress,
) -> Path:
    """The wheelhouse for ``requirements`` on the base described by ``facts`` (made once)."""
    dest = root / wheelhouse_key(requirements, facts, pip_options)
    if (dest / READY).is_file():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(
        root / f"{dest.name}.lock", progress, f"waiting for another process filling {dest.name}"
    ):
        if (dest / READY).is_file():
            return dest
        shutil.rmtree(dest, ignore_errors=True)
        partial = root / f"{dest.name}.{os.getpid()}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            progress(
                f"resolving {len(requirements)} requirements into wheels for "
                f"Python {facts.python} ({facts.arch}, glibc {facts.glibc})"
            )
            _fill(partial, requirements, facts, pip_options, index_url, progress)
            wheels = sorted(p.name for p in partial.glob("*.whl"))
            (partial / READY).write_text(json.dumps({"wheels": wheels}, indent=1))
            os.replace(partial, dest)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return dest


def link_wheels(wheelhouse: Path, dest: Path) -> None:
    """Hard-link (else copy) a wheelhouse's wheels and requirements into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in wheelhouse.iterdir():
        if item.suffix == ".whl" or item.name == INSTALL_FILE:
            try:
                os.link(item, dest / item.name)
            except OSError:
                shutil.copy2(item, dest / item.name)
