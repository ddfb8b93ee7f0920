"""What an interpreter offers wheels: its Python (major.minor), glibc and machine, as a
JSON line: ``{"python": "3.11", "glibc": "2.36", "arch": "x86_64"}``.

A program for interpreters where the platform is not installed: a bare base image before
the runtime goes in (:func:`serving.images.bases.probe`) and the candidate interpreters
for a local venv (:func:`serving.environments.venv.find_interpreter`). So it imports only
the standard library, keeps to syntax old Pythons read, and is run by its file's path,
not with ``python -m`` (no ``serving`` package there to find it in):
``python3 -I <this file>``, where ``-I`` (isolated mode) keeps the file's folder, the user's
site-packages and ``PYTHON*`` variables out of the probed interpreter. Where the platform
is installed, ``python -m serving.environments.interpreter_probe`` prints the same.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

PROBE_FILE = Path(__file__).resolve()
"""This program's file, for running it by path."""


def facts() -> dict[str, str]:
    """This interpreter's Python version, glibc version ('' when not glibc) and machine."""
    return {
        "python": "{}.{}".format(*sys.version_info[:2]),
        "glibc": platform.libc_ver()[1],
        "arch": platform.machine(),
    }


def probe_argv(python: str, path: str | None = None) -> list[str]:
    """Run the probe with ``python``; ``path``: where the file is for it (default: here)."""
    return [python, "-I", path or str(PROBE_FILE)]


def main() -> int:
    """Print the facts as one JSON line."""
    print(json.dumps(facts()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
