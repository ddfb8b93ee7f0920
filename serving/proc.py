"""Two process-level helpers shared by the layers that drive other programs (pip,
mmdebstrap): run a command streaming its output as progress, and an exclusive file lock."""

from __future__ import annotations

import fcntl
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

Progress = Callable[[str], None]


def run_streaming(
    argv: Sequence[str], progress: Progress, *, keep: int = 50
) -> tuple[int, list[str]]:
    """Run ``argv`` (stderr into stdout), pass each non-empty line to ``progress``.

    Returns the exit code and the last ``keep`` lines. Interrupting (Ctrl-C) kills the child.
    """
    tail: deque[str] = deque(maxlen=keep)
    with subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as proc:
        try:
            for raw in proc.stdout or ():
                line = raw.rstrip()
                if line:
                    tail.append(line)
                    progress(line)
        except BaseException:
            proc.kill()
            raise
    return proc.returncode or 0, list(tail)


@contextmanager
def file_lock(
    path: Path, progress: Progress | None = None, waiting: str = "", *, wait_s: float | None = None
) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if needed; left in place, since removing
    lock files races). ``waiting`` is reported when another process holds it. With
    ``wait_s``, give up after that many seconds; yields whether the lock is held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        if not _acquire(handle.fileno(), progress, waiting, wait_s):
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _acquire(fd: int, progress: Progress | None, waiting: str, wait_s: float | None) -> bool:
    deadline = time.monotonic() + (wait_s or 0.0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        if wait_s is None:
            if progress is not None and waiting:
                progress(waiting)
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
