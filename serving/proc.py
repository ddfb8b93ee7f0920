"""Process-level helpers shared by the layers that drive other programs (pip, mmdebstrap,
servers, training runs): run a command streaming its output as progress, an exclusive file
lock, and detached processes identified by pid and start time (a recycled pid is never
mistaken for ours), stopped by process group; and when Ctrl-C may land (held while a
process is recorded, or until a call to a server has its answer)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

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


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    start_ticks: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {"pid": self.pid, "start_ticks": self.start_ticks}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ProcessRef | None:
        pid = data.get("pid")
        if not isinstance(pid, int):
            return None
        ticks = data.get("start_ticks")
        return cls(pid, ticks if isinstance(ticks, int) else None)


def start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces or ')': fields after the last ')' are fixed
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts). Staging and upload folders carry
    the pid of the process writing them: a gone pid means the folder is stale."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_running(ref: ProcessRef) -> bool:
    if not pid_alive(ref.pid):
        return False
    if ref.start_ticks is not None and start_ticks(ref.pid) != ref.start_ticks:
        return False
    state = Path(f"/proc/{ref.pid}/stat")
    try:
        return state.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(ref: ProcessRef, *, grace_s: float = 30.0) -> None:
    """SIGTERM the process group (gunicorn finishes in-flight requests), then SIGKILL."""
    if not is_running(ref):
        return
    try:
        os.killpg(ref.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_running(ref):
            return
        time.sleep(0.05)
    try:
        os.killpg(ref.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5.0  # gone, and its ports free, before returning
    while is_running(ref) and time.monotonic() < deadline:
        time.sleep(0.05)


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    if not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        block = min(size, max(4096, lines * 400))
        fh.seek(size - block)
        data = fh.read().decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-lines:])


@contextmanager
def no_interrupt() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) in this thread while a process starts and is recorded:
    an interrupt then arrives after the record exists, never between the two."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


HELD_NOTICE_S = 1.0
"""How long a held Ctrl-C waits before the user is told why nothing happened yet."""
HELD_NOTICE = b"serving: waiting for the server's answer; press Ctrl-C again to stop now\n"


@contextmanager
def interrupt_after() -> Iterator[None]:
    """Hold a first Ctrl-C until the block ends, then raise it (whatever the block did);
    a second one is raised at once. For short calls to a server (the workspace API): an
    interrupt never cuts one in the middle, so no half-read connection is left to the
    garbage collector (a socket it closes is a ResourceWarning) and the answer was read
    whole. A press held over :data:`HELD_NOTICE_S` (a slow server) is explained on
    stderr. Only in the main thread, and only while SIGINT has Python's default handler
    (anyone else's is left alone, and a nested block holds nothing of its own)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    held: list[threading.Timer] = []  # the notice of the held press (made only on one)

    def hold(signum: int, frame: FrameType | None) -> None:
        if held:
            raise KeyboardInterrupt
        held.append(threading.Timer(HELD_NOTICE_S, os.write, (2, HELD_NOTICE)))
        held[0].daemon = True
        held[0].start()

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        for notice in held:
            notice.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if held:
            raise KeyboardInterrupt


def reap_in_background(proc: subprocess.Popen[bytes]) -> None:
    """Wait for a detached child on a daemon thread: no zombie when it exits while this
    process lives on (the SDK in a notebook), and no 'still running' warning at exit."""
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


def run_foreground(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run a server (gunicorn) in the foreground until it exits; returns its exit code.

    Ctrl-C reaches the child through the terminal's process group, so this process only
    waits on; SIGTERM is passed on to the child (a service manager stops us, not it).
    """
    process = subprocess.Popen(list(argv), env=dict(env))

    def forward(signum: int, _frame: FrameType | None) -> None:
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue  # the child got the same SIGINT and is shutting down
    finally:
        signal.signal(signal.SIGTERM, previous)
