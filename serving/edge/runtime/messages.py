"""One message in, one result out: the edge twin of the HTTP server's ``/score`` outcome.

The body goes to run() exactly as a ``/score`` POST body would (same binding, input modes
and shims, through :class:`serving.scoring.Scorer`); the result is encoded as the HTTP
server encodes it (a list stays a list). Whatever goes wrong (a body over the size limit,
bad JSON for a schema script, run() raising, a result JSON cannot hold) becomes one result
on the error output naming the message id and the error: a bad message never stops the
module. No MQTT here, so every outcome is unit-tested without a broker.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from serving.edge.runtime.outbox import Outgoing
from serving.edge.runtime.settings import EdgeSettings
from serving.edge.runtime.topics import CORRELATION_ID, MESSAGE_ID, RESPONSE_PROPERTY
from serving.scoring import (
    ResultNotSerializableError,
    RunFailedError,
    Scorer,
    ScoringError,
    ScoringInput,
    encode_result,
    is_stream,
)

_log = logging.getLogger("serving.edge")


@dataclass(frozen=True)
class Inbound:
    """A message as the transport received it."""

    payload: bytes
    mid: str | None = None
    cid: str | None = None
    input: str = ""
    ttl_s: float | None = None
    """Its MQTT 5 message expiry, if the sender set one: the result inherits it."""
    received: float = 0.0
    """``time.monotonic()`` at receipt."""


@dataclass(frozen=True)
class Scored:
    """The result to send and how it went."""

    outgoing: Outgoing
    failed: bool
    run_seconds: float = 0.0


def score_message(scorer: Scorer, message: Inbound, settings: EdgeSettings) -> Scored:
    """run() on one message body; the result for the output or the error output."""
    topics = settings.topics
    if len(message.payload) > settings.max_message_bytes:
        error = (
            f"message body of {len(message.payload)} bytes is over the limit of "
            f"{settings.max_message_bytes} bytes"
        )
        return _failure(message, settings, error)
    started = time.perf_counter()
    try:
        result = scorer.score(ScoringInput("POST", message.payload, is_json=True))
        value = list(result.value) if is_stream(result.value) else result.value
        # a response object (AMLResponse) gives its body
        body = bytes(value.get_data()) if hasattr(value, "get_data") else encode_result(value)
    except RunFailedError as exc:
        _log.error("run() raised on message %s", message.mid, exc_info=exc.__cause__)
        cause = exc.__cause__
        return _failure(message, settings, f"run() raised {type(cause).__name__}: {cause}")
    except ResultNotSerializableError as exc:
        _log.error("run() returned a result JSON cannot hold (message %s)", message.mid)
        return _failure(message, settings, exc.message)
    except ScoringError as exc:
        _log.warning("message %s refused: %s", message.mid, exc.message)
        return _failure(message, settings, exc.message)
    props = _ids(message)
    props[RESPONSE_PROPERTY] = "OK"
    outgoing = Outgoing(topics.output(settings.module, settings.output), body, props, message.ttl_s)
    return Scored(outgoing, False, time.perf_counter() - started)


def _ids(message: Inbound) -> dict[str, str]:
    """The message and correlation ids copied from the input (the correlation id defaults
    to the input's message id, so a result can always be matched to its input)."""
    props: dict[str, str] = {}
    if message.mid:
        props[MESSAGE_ID] = message.mid
    if message.cid or message.mid:
        props[CORRELATION_ID] = message.cid or message.mid or ""
    return props


def _failure(message: Inbound, settings: EdgeSettings, error: str) -> Scored:
    body = {"messageId": message.mid, "input": message.input, "error": error}
    props = _ids(message)
    props[RESPONSE_PROPERTY] = "Error"
    topic = settings.topics.output(settings.module, settings.error_output)
    return Scored(Outgoing(topic, json.dumps(body).encode(), props, message.ttl_s), True)
