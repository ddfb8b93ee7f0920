"""The bridge: inputs from the broker -> run() -> results through the outbox to the broker.

One thread (the caller's, so run()'s timeout can use ``SIGALRM`` as in the HTTP server)
owns the scorer and the outbox; paho's network thread only posts events to a queue. A loop:

1. take what arrived (inputs, acknowledgements of results, connection changes), up to a
   batch;
2. score the inputs (:func:`~serving.edge.runtime.messages.score_message`), store the results
   and the inputs' ids in the outbox in one transaction, then acknowledge the inputs to the
   broker (manual acknowledgements: an input is acknowledged only once its result is on
   disk, so a kill never loses an acknowledged message; the broker delivers unacknowledged
   ones again, and the outbox's ``seen`` ids turn those into acknowledgements only);
3. hand the oldest waiting results to paho (QoS 1, at most :data:`WINDOW` unacknowledged),
   only while connected; a result leaves the outbox when the broker acknowledges it.

paho resends what it was handed after a reconnect, in order, before newer rows are handed,
so results reach the broker in the order they were produced.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from serving.edge.runtime.messages import Inbound, Scored, score_message
from serving.edge.runtime.mqtt import connect, expiry, publish_properties, user_properties
from serving.edge.runtime.outbox import Outbox
from serving.edge.runtime.settings import EdgeSettings
from serving.edge.runtime.status import EdgeMetrics
from serving.edge.runtime.topics import CORRELATION_ID, MESSAGE_ID
from serving.scoring import Scorer

_log = logging.getLogger("serving.edge")

WINDOW = 1000
"""Results handed to paho and not yet acknowledged by the broker, at most."""
BATCH = 256
"""Events taken per turn of the loop."""
TRIM_EVERY_S = 0.5


@dataclass
class _Turn:
    """What one turn of the loop collected."""

    messages: list[tuple[mqtt.MQTTMessage, float]]
    published: list[int]


class Bridge:
    """Connects one scorer to the broker through the outbox."""

    def __init__(
        self,
        settings: EdgeSettings,
        scorer: Scorer,
        outbox: Outbox,
        metrics: EdgeMetrics,
        client: mqtt.Client,
    ) -> None:
        self.settings = settings
        self.scorer = scorer
        self.outbox = outbox
        self.metrics = metrics
        self.client = client
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._last_handed = 0
        self._trimmed_at = 0.0
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish

    @property
    def ready(self) -> bool:
        """init() has run and the broker is connected."""
        return self.scorer.ready and self.connected.is_set()

    # paho's network thread: post events only
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        if code.is_failure:
            _log.warning("the broker refused the connection: %s", code)
            return
        client.subscribe(self.settings.topics.inputs(self.settings.module), qos=1)
        self.connected.set()
        _log.info("connected to the broker %s", self.settings.broker_host)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        if self.connected.is_set():
            _log.warning("lost the broker (%s): results wait in the outbox", code)
        self.connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.events.put(("message", (message, time.monotonic())))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _code: Any, _p: Any) -> None:
        self.events.put(("published", mid))

    # the owning thread
    def run(self) -> None:
        """Connect and loop until :attr:`stopping` is set."""
        self.metrics.outbox.set(self.outbox.size())
        connect(self.client, self.settings.broker_host, self.settings.broker_port)
        self.client.loop_start()
        try:
            while not self.stopping.is_set():
                turn = self._collect()
                self._answer(turn.messages)
                self._acknowledged(turn.published)
                self._trim()
                self._pump()
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            self.outbox.close()

    def _collect(self) -> _Turn:
        """Wait for an event, then take what else is queued, up to :data:`BATCH` in all."""
        turn = _Turn([], [])
        events: list[tuple[str, Any]] = []
        try:
            events.append(self.events.get(timeout=TRIM_EVERY_S))
            while len(events) < BATCH:
                events.append(self.events.get_nowait())
        except queue.Empty:
            pass
        for kind, value in events:
            if kind == "message":
                turn.messages.append(value)
            else:
                turn.published.append(value)
        return turn

    def _answer(self, messages: list[tuple[mqtt.MQTTMessage, float]]) -> None:
        """Score new inputs, store results and ids in one transaction, then ack all."""
        if not messages:
            return
        scored: list[Scored] = []
        answered: list[str] = []
        received: list[float] = []
        for message, at in messages:
            inbound = self._inbound(message, at)
            self.metrics.received.inc()
            if inbound.mid and (inbound.mid in answered or self.outbox.seen(inbound.mid)):
                self.metrics.duplicates.inc()
                continue
            result = score_message(self.scorer, inbound, self.settings)
            scored.append(result)
            received.append(at)
            if inbound.mid:
                answered.append(inbound.mid)
        dropped = self.outbox.add([s.outgoing for s in scored], answered)
        for message, _ in messages:
            self.client.ack(message.mid, message.qos)
        now = time.monotonic()
        for result, at in zip(scored, received, strict=True):
            self.metrics.latency.observe(now - at)
            if result.failed:
                self.metrics.failed.inc()
            else:
                self.metrics.scoring.observe(result.run_seconds)
        if dropped:
            _log.warning("outbox full: dropped the %d oldest results", dropped)
            self.metrics.dropped.inc(dropped)

    def _inbound(self, message: mqtt.MQTTMessage, at: float) -> Inbound:
        props = user_properties(message)
        correlation = getattr(message.properties, "CorrelationData", None)
        cid = props.get(CORRELATION_ID)
        if not cid and correlation:
            cid = bytes(correlation).decode("utf-8", "replace")
        return Inbound(
            payload=bytes(message.payload),
            mid=props.get(MESSAGE_ID),
            cid=cid,
            input=self.settings.topics.input_name(message.topic),
            ttl_s=expiry(message),
            received=at,
        )

    def _acknowledged(self, mids: list[int]) -> None:
        rows = [row for mid in mids if (row := self._inflight.pop(mid, None)) is not None]
        if rows:
            self.outbox.delete(rows)
            self.metrics.sent.inc(len(rows))

    def _trim(self) -> None:
        now = time.monotonic()
        if now - self._trimmed_at < TRIM_EVERY_S:
            return
        self._trimmed_at = now
        expired = self.outbox.trim(after=self._last_handed)
        if expired:
            _log.warning("%d results passed their time to live and were dropped", expired)
            self.metrics.expired.inc(expired)
        self.metrics.outbox.set(self.outbox.size())

    def _pump(self) -> None:
        """Hand waiting results to paho, oldest first, while connected."""
        room = WINDOW - len(self._inflight)
        if not self.connected.is_set() or room <= 0:
            return
        for row in self.outbox.pending(self._last_handed, room):
            info = self.client.publish(
                row.topic, row.payload, qos=1, properties=publish_properties(row.props)
            )
            self._inflight[info.mid] = row.id
            self._last_handed = row.id
