"""Routes in the IoT Edge hub's syntax, compiled to MQTT topic filters and topics.

``FROM <source> INTO <sink>`` with the hub's sources (``/*``, ``/messages/*``,
``/messages/modules/*``, ``/messages/modules/<m>/*``, ``/messages/modules/<m>/outputs/*``,
``/messages/modules/<m>/outputs/<o>``) and sinks (``$upstream``,
``BrokeredEndpoint("/modules/<m>/inputs/<i>")``). ``WHERE`` conditions (the IoT Hub query
language) are refused with a clear error rather than ignored. Hand-written: a regular
expression per form is all the grammar there is, and no library parses it.

Routes into the model module are applied by the module itself (it subscribes to their
sources: one hop less); the others by the router (:mod:`serving.edge.runtime.router`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from serving.edge.runtime.topics import Topics
from serving.errors import UserInputError

UPSTREAM = "$upstream"
_NAME = r"[A-Za-z0-9_.\-]+"
_ROUTE = re.compile(
    r"^\s*FROM\s+(?P<source>\S+)\s+(?P<where>WHERE\s+.+?\s+)?INTO\s+(?P<sink>.+?)\s*$", re.I | re.S
)
_SINK = re.compile(
    rf'^BrokeredEndpoint\(\s*"/modules/(?P<module>{_NAME})/inputs/(?P<input>{_NAME})"\s*\)$'
)
_MODULE_SOURCE = re.compile(
    rf"^/messages/modules/(?P<module>{_NAME})/(?:\*|outputs/(?P<output>{_NAME}|\*))$"
)


@dataclass(frozen=True)
class Route:
    """One route: messages from ``source`` (a module output, or every one) to ``sink``."""

    name: str
    text: str
    module: str | None
    """The source module (None: every module)."""
    output: str | None
    """The source output (None: every output of the source)."""
    sink_module: str | None
    """None for ``$upstream``."""
    sink_input: str | None

    def source_filter(self, topics: Topics) -> str:
        """The MQTT filter of the messages this route takes."""
        if self.output is None:
            return topics.outputs(self.module)
        return topics.output(self.module or "+", self.output)

    def sink_topic(self, topics: Topics) -> str:
        if self.sink_module is None or self.sink_input is None:
            return topics.upstream
        return topics.input(self.sink_module, self.sink_input)

    def takes(self, module: str, output: str) -> bool:
        """A message from ``module``'s output ``output`` follows this route."""
        return (self.module in (None, module)) and (self.output in (None, output))


def parse_route(name: str, text: str) -> Route:
    """One route's text; a :class:`UserInputError` says what is wrong."""
    match = _ROUTE.match(text)
    if not match:
        raise UserInputError(f"route {name!r} is not 'FROM <source> INTO <sink>': {text!r}")
    if match.group("where"):
        raise UserInputError(
            f"route {name!r}: WHERE conditions are not supported here",
            hint="route whole outputs, or filter in the receiving module",
        )
    module, output = _source(name, match.group("source"))
    sink = match.group("sink").strip()
    if sink == UPSTREAM:
        return Route(name, text.strip(), module, output, None, None)
    found = _SINK.match(sink)
    if not found:
        raise UserInputError(
            f"route {name!r}: the sink must be $upstream or "
            f'BrokeredEndpoint("/modules/<module>/inputs/<input>"), not {sink!r}'
        )
    return Route(name, text.strip(), module, output, found.group("module"), found.group("input"))


def _source(name: str, source: str) -> tuple[str | None, str | None]:
    if source in ("/*", "/messages/*", "/messages/modules/*"):
        return None, None
    found = _MODULE_SOURCE.match(source)
    if not found:
        raise UserInputError(
            f"route {name!r}: unsupported source {source!r} "
            "(use /messages/modules/<module>/outputs/<output>, .../outputs/*, or /messages/*)"
        )
    output = found.group("output")
    return found.group("module"), None if output in (None, "*") else output


def parse_routes(routes: dict[str, str]) -> list[Route]:
    """Every route of a deployment, by name."""
    return [parse_route(name, text) for name, text in routes.items()]


def output_of(topics: Topics, topic: str) -> tuple[str, str] | None:
    """(module, output) of an output topic of this deployment, else None."""
    parts = topic.split("/")
    if not topic.startswith(topics.module("")) or len(parts) < 3 or parts[-2] != "outputs":
        return None
    return parts[-3], parts[-1]


def routed_input(routes: list[Route], topics: Topics, topic: str) -> str | None:
    """The input a message on ``topic`` arrives at through ``routes`` (None: no route)."""
    source = output_of(topics, topic)
    if source is None:
        return None
    return next((r.sink_input for r in routes if r.takes(*source)), None)
