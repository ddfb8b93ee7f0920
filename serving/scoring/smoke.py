"""The build-time smoke check, run inside a new model image: ``python -m serving.scoring.smoke``.

It imports the entry script the way the server does (``AML_APP_ROOT`` and
``AZUREML_ENTRY_SCRIPT``, without calling ``init()``; a no-code image instead loads its
model with the platform's scorer), which checks that it defines
``init`` and ``run``, and imports the ``azureml`` shims. It prints one JSON line: ``{"ok":
true, "mode": ...}`` with run()'s input mode, or ``{"ok": false, "message", "hint",
"details"}`` carrying the script's own error (a SyntaxError line, a missing module) and
exits 1. It lives in the scoring package because that is part of the runtime code every
model image carries; :mod:`serving.images.smoke` runs it and reads the line.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving.scoring.loader import install_compat_path, load_entry_script

SHIMS = (
    "azureml.core.model",
    "azureml.contrib.services.aml_request",
    "azureml.contrib.services.aml_response",
)
"""The Azure ML modules score.py files import, provided by :mod:`serving.scoring.compat`."""

DETAIL_FRAMES = 12
"""Traceback lines kept in ``details``."""


def check(environ: Mapping[str, str]) -> dict[str, Any]:
    """Load the entry script ``environ`` names (a no-code image: load its model with the
    platform's scorer, which checks the framework's runtime is there); the report to print."""
    if environ.get("SERVING_NOCODE_FRAMEWORK"):
        return _check_nocode(environ)
    try:
        install_compat_path()
        for shim in SHIMS:
            __import__(shim)
        script = load_entry_script(Path(environ["AML_APP_ROOT"]), environ["AZUREML_ENTRY_SCRIPT"])
    except BaseException as exc:  # a script may raise anything at import, SystemExit too
        return failure(exc)
    return {"ok": True, "mode": script.mode.value}


def _check_nocode(environ: Mapping[str, str]) -> dict[str, Any]:
    from serving.config import ServerSettings
    from serving.scoring.nocode import load_nocode

    try:
        settings = ServerSettings.from_env(environ)
        script, _model = load_nocode(settings)
        script.init()
    except BaseException as exc:
        return failure(exc)
    return {"ok": True, "mode": f"no-code {settings.nocode_framework}"}


def failure(exc: BaseException) -> dict[str, Any]:
    """The report for an entry script that does not load: its message, hint and traceback."""
    cause = exc.__cause__ or exc
    return {
        "ok": False,
        "message": getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}",
        "hint": getattr(exc, "hint", None),
        "details": "".join(traceback.format_exception(cause)[-DETAIL_FRAMES:]),
    }


def main(environ: Mapping[str, str] | None = None) -> int:
    """Print the report as one JSON line; the exit code (0: the script loads)."""
    report = check(os.environ if environ is None else environ)
    print(json.dumps(report), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
