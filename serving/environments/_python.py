"""Choosing the environment's Python version (major.minor) from a pin."""

from __future__ import annotations

import re
import sys

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from serving.config import SUPPORTED_PYTHONS
from serving.errors import EnvironmentSpecError

_FALLBACK = "3.11"
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


def _supported_text() -> str:
    return ", ".join(SUPPORTED_PYTHONS)


def _unsupported(version: str, source: str) -> EnvironmentSpecError:
    return EnvironmentSpecError(
        f"{source}: Python {version} is not supported; supported versions: {_supported_text()}",
        hint=f"pin one of them, e.g. python={_FALLBACK}",
    )


def default_python() -> str:
    """The running interpreter's major.minor when supported, else 3.11."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    return running if running in SUPPORTED_PYTHONS else _FALLBACK


def check_python(version: str, source: str) -> str:
    """Validate an explicit ``X.Y`` (or ``X.Y.Z``) version; return ``X.Y``."""
    match = _MAJOR_MINOR.match(version.strip())
    if match is None:
        raise EnvironmentSpecError(
            f"{source}: invalid Python version {version!r}; expected major.minor such as 3.11"
        )
    major_minor = f"{match.group(1)}.{match.group(2)}"
    if major_minor not in SUPPORTED_PYTHONS:
        raise _unsupported(major_minor, source)
    return major_minor


def python_from_specifier(specifier: SpecifierSet, written: str, source: str) -> str:
    """The highest supported ``X.Y`` that some ``X.Y.Z`` release satisfying the pin has.

    ``written`` is the pin as the user wrote it, for the error message.
    """
    for major_minor in sorted(SUPPORTED_PYTHONS, key=Version, reverse=True):
        candidates = [major_minor] + [f"{major_minor}.{patch}" for patch in range(100)]
        if any(specifier.contains(c, prereleases=True) for c in candidates):
            return major_minor
    raise _unsupported(written, source)
