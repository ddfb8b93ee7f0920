"""Logging of the scoring server: stderr, one JSON access line per request, print() capture.

Azure's server sends ``print()`` output of score.py to the logger ``azmlinfsrv.print``;
:func:`route_prints_to_log` does the same here by replacing ``sys.stdout`` in the worker.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from pathlib import Path

PRINT_LOGGER = "azmlinfsrv.print"
ACCESS_LOGGER = "serving.access"

_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


class _ServerHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The server's stderr handler (recognised so configuring twice adds nothing)."""


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
        plain = logging.StreamHandler(sys.__stderr__)
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
