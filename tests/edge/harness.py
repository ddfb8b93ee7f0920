"""What the Docker edge tests share: deploying a module (one image per script, reused in
the session's workspace), a listener with a persistent session, a counting publisher, and
the module's metrics. All traffic is on 127.0.0.1 and the deployment's private Docker
network; every wait is bounded."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests

from serving.deploy.toolkit import LOOPBACK
from serving.edge import lifecycle
from serving.edge.runtime.mqtt import connect, make_client, publish_properties, user_properties
from serving.edge.runtime.topics import MESSAGE_ID, Topics
from serving.edge.spec import EdgeRecord, EdgeSpec
from serving.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
EDGE_ENV = ROOT / "examples" / "edge" / "env.yml"
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@contextmanager
def deployed(ws: Workspace, spec: EdgeSpec) -> Iterator[EdgeRecord]:
    """A running edge deployment, deleted afterwards (whatever happened)."""
    try:
        yield lifecycle.deploy(ws, spec, lambda _line: None)
    finally:
        with suppress(Exception):
            lifecycle.delete(ws, spec.name, lambda _line: None)


def topics(record: EdgeRecord) -> Topics:
    return Topics(record.device, record.prefix)


@dataclass
class Listener:
    """Subscribed with a persistent session before anything is sent: sees every result,
    including those published while it was disconnected (the broker keeps them)."""

    record: EdgeRecord
    topic: str
    received: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.client = make_client(f"test-listener-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        connect(self.client, LOOPBACK, self.record.broker_port)
        self.client.loop_start()
        assert subscribed.wait(10), "the listener did not subscribe"

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.received.append((message.topic, bytes(message.payload), user_properties(message)))
            self.lock.notify_all()

    def wait_for(self, count: int, timeout_s: float) -> list[tuple[str, bytes, dict[str, str]]]:
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while len(self.received) < count and time.monotonic() < deadline:
                self.lock.wait(0.2)
            return list(self.received)

    def wait_for_ids(self, ids: set[str], timeout_s: float) -> set[str]:
        """Until every id in ``ids`` arrived (duplicates do not count twice); the missing."""
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while time.monotonic() < deadline:
                missing = ids - {props.get(MESSAGE_ID, "") for _t, _b, props in self.received}
                if not missing:
                    return set()
                self.lock.wait(0.2)
            return ids - {props.get(MESSAGE_ID, "") for _t, _b, props in self.received}

    def mids(self) -> list[str]:
        with self.lock:
            return [props.get(MESSAGE_ID, "") for _t, _b, props in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Publisher:
    """Publishes QoS 1 messages with message ids; counts those the broker acknowledged."""

    def __init__(self, record: EdgeRecord, topic: str) -> None:
        self.topic = topic
        self.acked: set[str] = set()
        self.order: list[str] = []
        self._pending: dict[int, str] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self.client = make_client(f"test-publisher-{uuid.uuid4().hex[:8]}")
        self.client.on_publish = self._on_publish
        connected = threading.Event()
        self.client.on_connect = lambda *_: connected.set()
        connect(self.client, LOOPBACK, record.broker_port, persistent=False)
        self.client.loop_start()
        assert connected.wait(10), "the publisher did not connect"

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        # paho's thread holds its own lock here: never call paho while holding ours
        with self._lock:
            ident = self._pending.pop(mid, None)
            if ident is None:
                self._early.add(mid)  # acknowledged before publish() returned its mid
            else:
                self.acked.add(ident)

    def publish(self, body: bytes, *, expiry_s: float | None = None) -> str:
        ident = str(uuid.uuid4())
        props = publish_properties({MESSAGE_ID: ident}, expiry_s=expiry_s)
        info = self.client.publish(self.topic, body, qos=1, properties=props)
        with self._lock:
            self.order.append(ident)
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked.add(ident)
            else:
                self._pending[info.mid] = ident
        return ident

    def wait_acked(self, count: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.acked)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def metric(record: EdgeRecord, name: str) -> float:
    """A counter of the module's /metrics (0 when absent)."""
    text = requests.get(f"http://{LOOPBACK}:{record.status_port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0
