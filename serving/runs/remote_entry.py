"""What a reporting run's container executes: ``python -m serving.runs.remote_entry
WORKDIR SCRIPT [ARGS...]`` runs the script as ``python SCRIPT ARGS`` would, in WORKDIR
(the working copy put into the container), then sends its ``./outputs`` and ``./logs`` to
the run on the workspace server, whatever the script's end (a failed run's outputs can be
looked at, as on a folder workspace). Metrics the script logged are flushed before.

The container has no workspace folder to collect outputs from afterwards, so the upload
happens here, in the container, before it exits. A cancel stops the container with
SIGTERM, then SIGKILL after its grace period: SIGTERM ends the script as ``sys.exit(143)``
would (unless the script handles the signal itself), so its last metrics and its outputs
are still sent within the grace; a SIGKILL sends nothing more.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType

from serving.runs import metrics as m
from serving.runs.reporting import ReportError, from_environment

SENT_FOLDERS = ("outputs", "logs")


def _run_script(script: str, args: list[str]) -> int:
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).resolve().parent))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        print(code, file=sys.stderr)
        return 1
    except BaseException:  # the script's own failure: shown as python would show it
        traceback.print_exc()
        return 1
    return 0


def _terminated(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM (a cancel): end the script with exit code 128 + 15, as the shell reports a
    process ended by it, through ``SystemExit`` so the sending below still happens."""
    raise SystemExit(128 + signum)


def _send_folders() -> None:
    found = from_environment()
    if found is None:
        return
    _run_id, reporter = found
    for name in SENT_FOLDERS:
        folder = Path(name)
        if folder.is_dir():
            try:
                sent = reporter.upload_folder(name, folder)
            except ReportError as exc:
                print(f"serving: {name}/ not sent: {exc.one_line()}", file=sys.stderr)
                continue
            if sent:
                print(f"serving: sent {len(sent)} files of {name}/ to the run", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        usage = "usage: python -m serving.runs.remote_entry WORKDIR SCRIPT [ARGS...]"
        print(usage, file=sys.stderr)
        return 2
    os.chdir(args[0])
    signal.signal(signal.SIGTERM, _terminated)
    code = _run_script(args[1], args[2:])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the sending too
    m.flush_all()
    _send_folders()
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
