"""``serving edge send`` and ``listen`` from the host: paho-mqtt on the broker's 127.0.0.1
port, MQTT 5, QoS 1. ``send`` returns once the broker acknowledged every message (it is then
the broker's to keep); ``listen`` uses a persistent session named after the listener, so
results published while it was away are waiting when it comes back."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any

import paho.mqtt.client as mqtt

from serving.deploy.toolkit import LOOPBACK
from serving.edge.runtime.mqtt import connect, make_client, publish_properties, user_properties
from serving.edge.runtime.topics import CORRELATION_ID, MESSAGE_ID, Topics
from serving.edge.spec import EdgeRecord
from serving.errors import BackendUnavailableError

CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    props: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        try:
            body: Any = json.loads(self.payload)
        except ValueError:
            body = self.payload.decode("utf-8", "replace")
        return {"topic": self.topic, "properties": self.props, "body": body}


def _connected(client: mqtt.Client, port: int, *, persistent: bool) -> None:
    done = threading.Event()
    client.on_connect = lambda *_args: done.set()
    connect(client, LOOPBACK, port, persistent=persistent)
    client.loop_start()
    if not done.wait(CONNECT_TIMEOUT_S):
        client.loop_stop()
        raise BackendUnavailableError(
            f"the broker on {LOOPBACK}:{port} did not answer",
            hint="see 'serving edge show NAME' and 'serving edge logs NAME --role broker'",
        )


def send(
    record: EdgeRecord,
    module: str,
    input_name: str,
    bodies: Sequence[bytes],
    *,
    ttl_s: float | None = None,
) -> list[str]:
    """Publish ``bodies`` to ``module``'s input (QoS 1), each with a new message id;
    returns the ids once the broker acknowledged them all."""
    topic = Topics(record.device, record.prefix).input(module, input_name)
    client = make_client(f"send-{uuid.uuid4().hex[:12]}")
    _connected(client, record.broker_port, persistent=False)
    try:
        ids: list[str] = []
        infos = []
        for body in bodies:
            mid = str(uuid.uuid4())
            props = publish_properties({MESSAGE_ID: mid}, expiry_s=ttl_s)
            infos.append(client.publish(topic, body, qos=1, properties=props))
            ids.append(mid)
        for info in infos:
            info.wait_for_publish(timeout=30)
        return ids
    finally:
        client.disconnect()
        client.loop_stop()


def listen(
    record: EdgeRecord, topic: str, *, count: int, timeout_s: float, session: str | None = None
) -> Iterator[Received]:
    """Messages on ``topic`` as they come, until ``count`` (0: no limit) or ``timeout_s``
    seconds without one. ``session``: a persistent session of that name (else a clean one)."""
    client = make_client(session or f"listen-{uuid.uuid4().hex[:12]}")
    box: SimpleQueue[Received] = SimpleQueue()

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        box.put(Received(message.topic, bytes(message.payload), user_properties(message)))

    client.on_message = on_message
    _connected(client, record.broker_port, persistent=session is not None)
    client.subscribe(topic, qos=1)
    seen = 0
    try:
        while count == 0 or seen < count:
            try:
                yield box.get(timeout=timeout_s)
            except Empty:
                return
            seen += 1
    finally:
        client.disconnect()
        client.loop_stop()


def ids_of(received: Received) -> tuple[str | None, str | None]:
    return received.props.get(MESSAGE_ID), received.props.get(CORRELATION_ID)


def wait_s(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
