"""Run a command with its output in a size-bounded, rotating log file.

``python logpipe.py LOG MAX_BYTES BACKUPS -- COMMAND...`` starts COMMAND in its own process
group (this process leads it), with stdout and stderr into a pipe, and copies what comes
out into LOG. When LOG would grow past MAX_BYTES it becomes ``LOG.1`` (``LOG.1`` becomes
``LOG.2``, ... up to BACKUPS files; the oldest is dropped) and a new LOG is started, so a
server that logs a line per request never fills the disk. MAX_BYTES 0 never rotates.

The background servers of the local target and the cluster supervisors run under it.
Stop them by signalling the process group (``serving.deploy.process.stop``): this process
ignores SIGTERM, SIGINT and SIGHUP itself, copies the command's last words until the pipe
closes, and exits with the command's exit code (128 + N when signal N ended it).

Only the standard library is used: the file runs as a script, whatever ``sys.path`` is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

CHUNK = 65536


class RotatingWriter:
    """Appends bytes to ``path``, rotating it before it would exceed ``max_bytes``."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = max(0, backups)
        self._file = path.open("ab")
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        """Write ``data``, rotating between lines (a line longer than the limit is cut)."""
        for line in data.splitlines(keepends=True):
            self._write_line(line)
        self._file.flush()

    def _write_line(self, line: bytes) -> None:
        limit = self.max_bytes
        if limit <= 0:
            self._file.write(line)
            self._size += len(line)
            return
        while line:
            if self._size > 0 and self._size + len(line) > limit:
                self._rotate()
            piece, line = line[:limit], line[limit:]
            self._file.write(piece)
            self._size += len(piece)

    def _rotate(self) -> None:
        self._file.close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for index in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = self.path.open("ab")
        self._size = 0

    def close(self) -> None:
        self._file.close()


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """The process group gets the signal; this process outlives the command to copy its
    last output (a handler, not SIG_IGN, so the command starts with default handlers)."""


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        print("usage: logpipe.py LOG MAX_BYTES BACKUPS -- COMMAND...", file=sys.stderr)
        return 2
    log, max_bytes, backups, command = Path(argv[0]), int(argv[1]), int(argv[2]), argv[4:]
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _ignore)
    # started while the CLI held Ctrl-C back: the command gets an ordinary signal mask
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    writer = RotatingWriter(log, max_bytes, backups)
    try:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except OSError as exc:
        writer.write(f"cannot start {command[0]}: {exc}\n".encode())
        return 127
    assert child.stdout is not None
    fd = child.stdout.fileno()
    while True:
        data = os.read(fd, CHUNK)
        if not data:
            break
        writer.write(data)
    writer.close()
    code = child.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
