"""The supervisor's side of :mod:`serving.hub.run_server`: a workspace server started for
one run of a folder workspace on a Ray cluster, and stopped at the run's end.

The hub is a layer above the runs, so the server is a child process started by module
name; its standard input is the leash (closed here at the end, or by the kernel when the
supervisor dies).
"""

from __future__ import annotations

import selectors
import subprocess
import sys
from pathlib import Path

from serving.errors import ServingError

START_TIMEOUT_S = 30.0


class RunServer:
    """A started ``serving.hub.run_server`` process and its loopback URL."""

    def __init__(self, workspace: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving.hub.run_server", str(workspace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        port = _first_line(self.proc, START_TIMEOUT_S)
        if not port.isdigit():
            self.close()
            raise ServingError(
                f"the run's own workspace server did not start (it said {port!r}); "
                "see the supervisor's log"
            )
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        """Stop the server (closing its standard input); killed if it lingers."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _first_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The child's first line of output, or '' if it printed none in time."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            return ""
    return proc.stdout.readline().decode("utf-8", "replace").strip()
