"""The build-time smoke check: inside the new image, import the entry script the way the
server does (without calling ``init()``), check ``init`` and ``run``, and import the azureml
shims. A failure carries the script's own error (a SyntaxError line, a missing module).

The program is :mod:`serving.scoring.smoke`, run with ``python -m``; this module runs it
in the image and turns its JSON line into the input mode or a :class:`SmokeCheckError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from serving.images.dockerfile import ENV_PYTHON
from serving.images.engine import last_json_line, run_once
from serving.images.errors import SmokeCheckError
from serving.scoring import smoke as smoke_program

if TYPE_CHECKING:
    from docker import DockerClient

SMOKE_MODULE = smoke_program.__name__
"""The check itself: a module of the runtime code every model image carries."""


def smoke_argv() -> list[str]:
    """The smoke check's entrypoint inside a model image."""
    return [ENV_PYTHON, "-m", SMOKE_MODULE]


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
