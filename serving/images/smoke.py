"""The build-time smoke check: inside the new image, import the entry script the way the
server does (without calling ``init()``), check ``init`` and ``run``, and import the azureml
shims. A failure carries the script's own error (a SyntaxError line, a missing module)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from serving.images.dockerfile import ENV_PYTHON
from serving.images.engine import last_json_line, run_once
from serving.images.errors import SmokeCheckError

if TYPE_CHECKING:
    from docker import DockerClient

SHIMS = (
    "azureml.core.model",
    "azureml.contrib.services.aml_request",
    "azureml.contrib.services.aml_response",
)

SMOKE_CODE = f"""
import json, os, sys, traceback
from pathlib import Path
try:
    from serving.scoring.loader import install_compat_path, load_entry_script
    install_compat_path()
    for shim in {SHIMS!r}:
        __import__(shim)
    script = load_entry_script(Path(os.environ["AML_APP_ROOT"]), os.environ["AZUREML_ENTRY_SCRIPT"])
except BaseException as exc:
    cause = exc.__cause__ or exc
    print(json.dumps({{
        "ok": False,
        "message": getattr(exc, "message", None) or f"{{type(exc).__name__}}: {{exc}}",
        "hint": getattr(exc, "hint", None),
        "details": "".join(traceback.format_exception(cause)[-12:]),
    }}))
    sys.exit(1)
print(json.dumps({{"ok": True, "mode": script.mode.value}}))
"""


def smoke_argv() -> list[str]:
    """The smoke check's entrypoint inside a model image."""
    return [ENV_PYTHON, "-c", SMOKE_CODE]


def smoke_check(client: DockerClient, image_id: str) -> str:
    """Run the smoke check in ``image_id``; returns run()'s input mode or raises
    :class:`SmokeCheckError` with the script's error."""
    result = run_once(client, image_id, smoke_argv(), timeout_s=300)
    report = last_json_line(result.output)
    if result.exit_code == 0 and report is not None and report.get("ok"):
        return str(report.get("mode", ""))
    if report is None:
        tail = result.output.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
        raise SmokeCheckError(
            f"the smoke check inside the image failed: {tail[0]}", details=result.output[-3000:]
        )
    hint = report.get("hint")
    raise SmokeCheckError(
        f"the entry script does not load in the image: {report.get('message')}",
        hint=str(hint) if hint else "fix the script and build again; no image was recorded",
        details=str(report.get("details") or "") or None,
    )
