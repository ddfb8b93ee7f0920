"""The access logger's handler: lines held for one write per worker turn, and lines given
to it directly where a log record would reach it alone."""

from __future__ import annotations

import io
import logging
import threading

import pytest

from serving.server.logs import ATOMIC_WRITE, AccessHandler, direct_access_handler


@pytest.fixture
def logger() -> logging.Logger:
    """A logger of its own (outside the logging tree, where pytest adds its handlers)."""
    log = logging.Logger("serving.test-access-lines", logging.INFO)
    log.propagate = False
    return log


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.pieces: list[str] = []

    def write(self, text: str) -> int:
        self.writes += 1
        self.pieces.append(text)
        return super().write(text)


def test_lines_are_written_at_once_outside_a_hold() -> None:
    stream = _CountingStream()
    handler = AccessHandler(stream)
    handler.line('{"a": 1}')
    assert stream.getvalue() == '{"a": 1}\n'


def test_a_hold_writes_its_lines_once_at_its_end(logger: logging.Logger) -> None:
    stream = _CountingStream()
    handler = AccessHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    handler.hold()
    handler.line("one")
    logger.info("two %d", 2)
    handler.line("three")
    assert stream.getvalue() == ""
    handler.write_held()
    assert stream.getvalue() == "one\ntwo 2\nthree\n"
    assert stream.writes == 1
    handler.write_held()  # nothing held: nothing written
    logger.info("four")
    assert stream.getvalue().endswith("three\nfour\n")


def test_a_broken_stream_loses_lines_not_requests() -> None:
    stream = _CountingStream()
    handler = AccessHandler(stream)
    stream.close()
    handler.line("lost")
    handler.hold()
    handler.line("lost too")
    handler.write_held()


def test_direct_only_where_a_record_would_reach_the_handler_alone(
    logger: logging.Logger,
) -> None:
    handler = AccessHandler(io.StringIO())
    assert direct_access_handler(logger) is None  # no handler: records go elsewhere
    logger.addHandler(handler)
    assert direct_access_handler(logger) is handler
    logger.propagate = True  # a parent's handler (caplog's) would miss the lines
    assert direct_access_handler(logger) is None
    logger.propagate = False
    logger.addFilter(lambda record: True)
    assert direct_access_handler(logger) is None
    logger.filters.clear()
    logger.addHandler(logging.StreamHandler(io.StringIO()))
    assert direct_access_handler(logger) is None
    quiet = logging.Logger("serving.test-access-quiet", logging.WARNING)
    quiet.propagate = False
    quiet.addHandler(handler)
    assert direct_access_handler(quiet) is None


def test_records_from_another_thread_are_not_blocked(logger: logging.Logger) -> None:
    """The handler's lock is released after each record (a method named ``release`` once
    shadowed ``logging.Handler.release``: the first thread kept the lock)."""
    stream = io.StringIO()
    handler = AccessHandler(stream)
    logger.addHandler(handler)
    logger.info("main")
    other = threading.Thread(target=logger.info, args=("other",))
    other.start()
    other.join(5)
    assert not other.is_alive()
    assert stream.getvalue() == "main\nother\n"


def test_held_lines_go_out_whole_in_pipe_sized_writes() -> None:
    stream = _CountingStream()
    handler = AccessHandler(stream)
    lines = [f'{{"n": {i}, "pad": "{"x" * 100}"}}' for i in range(200)]
    handler.hold()
    for line in lines:
        handler.line(line)
    handler.write_held()
    assert stream.getvalue() == "".join(line + "\n" for line in lines)
    assert stream.writes == len(stream.pieces) > 1
    assert all(len(piece) <= ATOMIC_WRITE and piece.endswith("\n") for piece in stream.pieces)
