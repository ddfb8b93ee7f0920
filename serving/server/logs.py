"""Logging of the scoring server: stderr, one JSON access line per request, print() capture.

Azure's server sends ``print()`` output of score.py to the logger ``azmlinfsrv.print``;
:func:`route_prints_to_log` does the same here by replacing ``sys.stdout`` in the worker.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from pathlib import Path
from typing import Any

PRINT_LOGGER = "azmlinfsrv.print"
ACCESS_LOGGER = "serving.access"

_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


class _ServerHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The server's stderr handler (recognised so configuring twice adds nothing)."""


class AccessHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The access logger's stderr handler, which can hold lines for one write.

    Writing and flushing one line per request is a system call per request (about 6 % of
    a worker's time on a small model). Between :meth:`hold` and :meth:`write_held` (one turn
    of the keep-alive worker's event loop, :mod:`serving.server.worker`) lines are
    formatted as they come and written together then; outside a hold each is
    written at once, as by any stream handler. Records still pass through the logger
    (levels, filters, other handlers are unchanged).
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._held: list[str] | None = None

    def hold(self) -> None:
        """Keep the lines emitted from now on until :meth:`write_held`."""
        if self._held is None:
            self._held = []

    def write_held(self) -> None:
        """Write the held lines and stop holding: whole lines, in writes of at most
        :data:`ATOMIC_WRITE` bytes, so that workers sharing a pipe never split each
        other's lines (POSIX keeps writes up to ``PIPE_BUF`` whole).

        (Not ``release``: that is ``logging.Handler``'s lock release.)"""
        held, self._held = self._held, None
        if held:
            self._write(*_chunks(held, ATOMIC_WRITE))

    def line(self, text: str) -> None:
        """Write (or hold) a line the caller formatted, with no log record: for a logger
        whose one handler this is (:func:`direct_access_handler`)."""
        held = self._held
        if held is not None:
            held.append(text + self.terminator)
        else:
            self._write(text + self.terminator)

    def _write(self, *pieces: str) -> None:
        """Write and flush each piece (a closed or broken stderr loses them, as emit()
        would, never a request)."""
        with self.lock, contextlib.suppress(OSError, ValueError):  # type: ignore[union-attr]
            for piece in pieces:
                self.stream.write(piece)
                self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        """Write the line now, or keep it during a hold."""
        held = self._held
        if held is None:
            super().emit(record)
            return
        try:
            held.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)


ATOMIC_WRITE = 4096
"""``PIPE_BUF`` on Linux: the most bytes one write to a pipe keeps together."""


def _chunks(lines: list[str], size: int) -> list[str]:
    """``lines`` joined into as few pieces as possible of at most ``size`` characters each
    (a longer line is a piece of its own)."""
    pieces: list[str] = []
    current: list[str] = []
    length = 0
    for line in lines:
        if current and length + len(line) > size:
            pieces.append("".join(current))
            current, length = [], 0
        current.append(line)
        length += len(line)
    if current:
        pieces.append("".join(current))
    return pieces


def direct_access_handler(logger: logging.Logger) -> AccessHandler | None:
    """The handler to give access lines to directly (:meth:`AccessHandler.line`), where
    a log record would reach it alone and unchanged: the logger's one handler, logging at
    INFO, with no filter and no propagation (as :func:`configure_logging` sets it up).
    Else None: lines go through ``logger.info`` (tests reading them with ``caplog``).

    A record per line was 7 % of a worker's time on a small model (``LogRecord`` asks
    the pid, the thread and the time of each)."""
    handlers = logger.handlers
    if len(handlers) != 1 or logger.propagate or logger.filters:
        return None
    handler = handlers[0]
    if not isinstance(handler, AccessHandler) or handler.filters:
        return None
    if not logger.isEnabledFor(logging.INFO) or handler.level > logging.INFO:
        return None
    return handler


def access_handler() -> AccessHandler | None:
    """The access logger's handler set by :func:`configure_logging` (None: not configured
    here, lines go wherever the logger's handlers send them)."""
    for handler in logging.getLogger(ACCESS_LOGGER).handlers:
        if isinstance(handler, AccessHandler):
            return handler
    return None


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr: access lines as bare JSON, everything else formatted."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(h, _ServerHandler) for h in root.handlers):
        handler = _ServerHandler(sys.__stderr__)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(logging.INFO)
    access.propagate = False
    if not access.handlers:
        plain = AccessHandler(sys.__stderr__)
        plain.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(plain)


class LogWriter(io.TextIOBase):
    """A text stream that logs each complete line it receives."""

    def __init__(self, logger: logging.Logger, fileno: int | None = None) -> None:
        super().__init__()
        self._logger = logger
        self._fileno = fileno
        self._lock = threading.Lock()
        self._partial = ""

    def writable(self) -> bool:
        """Always writable."""
        return True

    def write(self, text: str) -> int:
        """Buffer ``text``; log every line it completes."""
        with self._lock:
            data = self._partial + text
            *lines, self._partial = data.split("\n")
        for line in lines:
            self._logger.info("%s", line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        """Log a pending partial line."""
        with self._lock:
            pending, self._partial = self._partial, ""
        if pending:
            self._logger.info("%s", pending)

    def fileno(self) -> int:
        """The original stream's descriptor, for code that writes to it directly."""
        if self._fileno is None:
            raise io.UnsupportedOperation("fileno")
        return self._fileno

    def isatty(self) -> bool:
        """Never a terminal."""
        return False


def route_prints_to_log() -> None:
    """Replace ``sys.stdout`` so that ``print()`` in score.py reaches the log."""
    if isinstance(sys.stdout, LogWriter):
        return
    try:
        fileno: int | None = sys.__stdout__.fileno() if sys.__stdout__ is not None else None
    except (OSError, ValueError):
        fileno = None
    sys.stdout = LogWriter(logging.getLogger(PRINT_LOGGER), fileno)


def describe_tree(root: Path | None, limit: int = 200) -> str:
    """A listing of ``root`` (the model folder) for startup error logs."""
    if root is None:
        return "AZUREML_MODEL_DIR is not set"
    if not root.exists():
        return f"AZUREML_MODEL_DIR {root} does not exist"
    lines = [f"AZUREML_MODEL_DIR {root}:"]
    for count, path in enumerate(sorted(root.rglob("*"))):
        if count >= limit:
            lines.append("  ... (more entries not shown)")
            break
        kind = "/" if path.is_dir() else f" ({path.stat().st_size} bytes)"
        lines.append(f"  {path.relative_to(root)}{kind}")
    return "\n".join(lines)
