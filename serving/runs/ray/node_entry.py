"""What a Ray job of a run executes on its node: ``python -m serving.runs.ray.node_entry
SCRIPT [ARGS...]`` in the job's working directory (the run's working copy).

It puts the platform's ``azureml`` compatibility package (inside the uploaded ``serving``
module, wherever Ray unpacked it) on the path, as the run's ``PYTHONPATH`` does on this
machine, then hands over to :mod:`serving.runs.remote_entry`, which runs the script and
sends ``outputs/`` and ``logs/`` to the run on the workspace server.

The run's token comes as a file in the working directory (:data:`TOKEN_FILE`, kept out of
the job's variables, which Ray's job list shows): it is read into the environment and the
file removed before anything else. Then it asks the server for its run: a job that
waited for resources may start after its run was canceled (Ray stops a pending job only
once it is placed), and then the run's token has been revoked: the script is not started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import serving
from serving.runs import remote_entry
from serving.runs.reporting import (
    TOKEN_ENV,
    TOKEN_FILE,
    V1_TOKEN_ENV,
    ReportError,
    from_environment,
)

COMPAT = Path(serving.__file__).resolve().parent / "scoring" / "compat"


def take_token(folder: Path) -> None:
    """Move the run's token from its file in ``folder`` into the environment."""
    path = folder / TOKEN_FILE
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        path.unlink()
        os.environ[TOKEN_ENV] = os.environ[V1_TOKEN_ENV] = token


def run_still_open() -> bool:
    """False when the server refuses the run's token (the run ended while queued)."""
    found = from_environment()
    if found is None:
        return True
    run_id, reporter = found
    try:
        reporter.call("GET", "")
    except ReportError as exc:
        if (exc.hint or "").startswith("HTTP 4"):
            print(f"serving: run {run_id} has ended ({exc.one_line()}): not starting it")
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    take_token(Path.cwd())
    if not run_still_open():
        return 1
    sys.path.insert(0, str(COMPAT))
    paths = [str(COMPAT), str(COMPAT.parent.parent.parent), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return remote_entry.main([os.getcwd(), *args])


if __name__ == "__main__":
    sys.exit(main())
