"""The bridge: inputs from the broker -> run() -> results through the outbox to the broker.

The module subscribes to its inputs and to the sources of the routes into them (the router
handles the other routes). One thread (the caller's, so run()'s timeout can use ``SIGALRM``
as in the HTTP server) runs paho's network loop itself (``client.loop()``, no network
thread: no hand-over between threads on the message path) and owns the scorer and the
outbox. Each turn:

1. read what arrived (inputs, acknowledgements of results), up to a batch;
2. score the inputs (:func:`~serving.edge.runtime.messages.score_message`), store the results
   and the inputs' ids in the outbox, and forget the results the broker acknowledged, in one
   transaction (one ``seen`` query for the whole batch), then acknowledge the inputs to the
   broker (manual acknowledgements: an input is acknowledged only once its result is on
   disk, so a kill never loses an acknowledged message; the broker delivers unacknowledged
   ones again, and the outbox's ``seen`` ids turn those into acknowledgements only);
3. hand the oldest waiting results to paho (QoS 1, at most :data:`WINDOW` unacknowledged),
   only while connected; a result leaves the outbox when the broker acknowledges it.

paho resends what it was handed after a reconnect, in order, before newer rows are handed,
so results reach the broker in the order they were produced. While the broker is away the
loop goes on scoring the inputs it has read (their acknowledgements are lost with the
connection: the broker delivers them again and the ``seen`` ids answer that), reconnects
every :data:`RETRY_S` and expires what waits past its time to live.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt

from serving.edge.runtime.messages import Inbound, Scored, score_message
from serving.edge.runtime.mqtt import connect, expiry, publish_properties, user_properties
from serving.edge.runtime.outbox import Outbox
from serving.edge.runtime.routes import routed_input
from serving.edge.runtime.settings import EdgeSettings
from serving.edge.runtime.status import EdgeMetrics
from serving.edge.runtime.topics import CORRELATION_ID, MESSAGE_ID
from serving.scoring import Scorer

_log = logging.getLogger("serving.edge")

WINDOW = 1000
"""Results handed to paho and not yet acknowledged by the broker, at most (less when the
broker's Receive Maximum is lower). paho's own in-flight limit is off for the bridge's
client: with one, paho looks through every unacknowledged message on each PUBACK."""
BATCH = 256
"""Inputs read ahead, at most."""
BATCH_S = 0.02
"""Scoring time per turn: results of a turn are stored and sent together."""
TRIM_EVERY_S = 0.5
RETRY_S = 1.0
"""Between attempts to reach the broker."""


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
        self.connected = threading.Event()
        """The broker accepted the session (CONNACK): results may be handed over."""
        self.stopping = threading.Event()
        self._link = False  # a TCP connection is open (paho's loop may run)
        self._tried_at = -RETRY_S
        self._backlog: deque[tuple[mqtt.MQTTMessage, float]] = deque()
        self._published: list[int] = []
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._last_handed = 0
        self._window = WINDOW
        self._unhanded = True  # the outbox may hold rows not yet handed to paho
        self._inputs: dict[str, str] = {}  # topic -> input name
        self._trimmed_at = 0.0
        self._routes = [r for r in settings.parsed_routes() if r.sink_module == settings.module]
        self._own_outputs = settings.topics.module(settings.module) + "/outputs/"
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.max_inflight_messages_set(0)  # the bridge keeps to self._window itself

    @property
    def ready(self) -> bool:
        """init() has run and the broker is connected."""
        return self.scorer.ready and self.connected.is_set()

    # paho callbacks, called from client.loop() in this thread
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, code: Any, props: Any) -> None:
        if code.is_failure:
            _log.warning("the broker refused the connection: %s", code)
            return
        # at least 1: a broker's ReceiveMaximum of 0 (invalid) would stop every publish
        self._window = max(1, min(WINDOW, int(getattr(props, "ReceiveMaximum", WINDOW))))
        self._unhanded = True
        topics = self.settings.topics
        filters = {topics.inputs(self.settings.module)}
        filters.update(route.source_filter(topics) for route in self._routes)
        client.subscribe([(f, 1) for f in sorted(filters)])
        self.connected.set()
        _log.info("connected to the broker %s", self.settings.broker_host)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        if self.connected.is_set():
            _log.warning("lost the broker (%s): results wait in the outbox", code)
        self.connected.clear()
        self._link = False

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._backlog.append((message, time.monotonic()))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _code: Any, _p: Any) -> None:
        self._published.append(mid)

    def run(self) -> None:
        """Connect and loop until :attr:`stopping` is set."""
        self.metrics.outbox.set(self.outbox.size())
        connect(self.client, self.settings.broker_host, self.settings.broker_port)
        try:
            while not self.stopping.is_set():
                if self._link or self._reconnect():
                    self._collect()
                elif not self._backlog:  # the broker is away and nothing is left to score
                    self.stopping.wait(0.1)
                with self._corked():
                    self._answer()
                    self._trim()
                    self._pump()
        finally:
            self.client.disconnect()
            self.outbox.close()

    @contextlib.contextmanager
    def _corked(self) -> Iterator[None]:
        """The acknowledgements and results of a turn leave in as few TCP segments as
        possible (``TCP_CORK``), while Nagle's algorithm stays off for single messages."""
        sock: Any = self.client.socket() if self._link else None
        cork = getattr(socket, "TCP_CORK", None)
        if sock is None or cork is None:
            yield
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, cork, 0)

    def _reconnect(self) -> bool:
        """Open the connection (at most every :data:`RETRY_S`); whether it is open."""
        now = time.monotonic()
        if now - self._tried_at < RETRY_S:
            return False
        self._tried_at = now
        try:
            self._link = self.client.reconnect() == mqtt.MQTT_ERR_SUCCESS
        except OSError as exc:
            _log.debug("broker %s not reachable: %s", self.settings.broker_host, exc)
        return self._link

    def _collect(self) -> None:
        """Run paho's loop: wait for something (at most :data:`TRIM_EVERY_S`) when nothing
        is waiting to be scored, then read what else is readable, up to :data:`BATCH`
        inputs (the rest stays with the broker, whose in-flight window holds it back)."""
        self.client.loop(timeout=0 if self._backlog else TRIM_EVERY_S)
        while self._link and len(self._backlog) < BATCH:
            seen = len(self._backlog) + len(self._published)
            self.client.loop(timeout=0)
            if len(self._backlog) + len(self._published) == seen:
                break

    def _answer(self) -> None:
        """Score waiting inputs for at most :data:`BATCH_S`; store their results and ids, and
        forget the results the broker acknowledged, in one transaction; then acknowledge
        those inputs."""
        sent = self._acknowledged()
        batch = [self._backlog.popleft() for _ in range(min(BATCH, len(self._backlog)))]
        inbound = [
            None if m.topic.startswith(self._own_outputs) else self._inbound(m, at)  # no loop
            for m, at in batch
        ]
        seen = self.outbox.seen_among([i.mid for i in inbound if i is not None and i.mid])
        scored: list[Scored] = []
        answered: list[str] = []
        received: list[float] = []
        started, taken, duplicates = time.monotonic(), 0, 0
        for item in inbound:
            if taken and time.monotonic() - started >= BATCH_S:
                break
            taken += 1
            if item is None:
                continue
            if item.mid and item.mid in seen:
                duplicates += 1
                continue
            scored.append(score_message(self.scorer, item, self.settings))
            received.append(item.received)
            if item.mid:
                answered.append(item.mid)
                seen.add(item.mid)
        self._backlog.extendleft(reversed(batch[taken:]))
        if not (scored or answered or sent):
            dropped = 0
        else:
            dropped = self.outbox.add([s.outgoing for s in scored], answered, sent)
            self._unhanded = self._unhanded or bool(scored)
        for message, _at in batch[:taken]:
            self.client.ack(message.mid, message.qos)
        self._observe(scored, received, dropped)
        counted = sum(1 for item in inbound[:taken] if item is not None)
        if counted:
            self.metrics.received.inc(counted)
        if duplicates:
            self.metrics.duplicates.inc(duplicates)
        if sent:
            self.metrics.sent.inc(len(sent))

    def _observe(self, scored: list[Scored], received: list[float], dropped: int) -> None:
        now = time.monotonic()
        failed = 0
        for result, at in zip(scored, received, strict=True):
            self.metrics.latency.observe(now - at)
            if result.failed:
                failed += 1
            else:
                self.metrics.scoring.observe(result.run_seconds)
        if failed:
            self.metrics.failed.inc(failed)
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
            input=self._input_of(message.topic),
            ttl_s=expiry(message),
            received=at,
        )

    def _input_of(self, topic: str) -> str:
        """The input a message on ``topic`` arrives at (remembered: topics repeat)."""
        name = self._inputs.get(topic)
        if name is None:
            topics = self.settings.topics
            name = topics.input_name(topic) or routed_input(self._routes, topics, topic) or ""
            if len(self._inputs) < 1024:
                self._inputs[topic] = name
        return name

    def _acknowledged(self) -> list[int]:
        """The outbox rows of the results the broker acknowledged since the last turn."""
        mids, self._published = self._published, []
        return [row for mid in mids if (row := self._inflight.pop(mid, None)) is not None]

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
        room = self._window - len(self._inflight)
        if not self._unhanded or not self.connected.is_set() or room <= 0:
            return
        rows = self.outbox.pending(self._last_handed, room)
        self._unhanded = len(rows) == room
        for row in rows:
            info = self.client.publish(
                row.topic, row.payload, qos=1, properties=publish_properties(row.props)
            )
            self._inflight[info.mid] = row.id
            self._last_handed = row.id
