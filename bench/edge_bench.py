"""Edge module figures on this machine: the digits model as an MQTT module (Mosquitto and
the module in containers, paho-mqtt clients on 127.0.0.1, one-row messages, QoS 1).

    python bench/edge_bench.py [--messages 5000] [--rate 200] [--seconds 10] [--workspace DIR]

* throughput: ``--messages`` published as fast as the client goes, timed from the first
  publish to the last prediction received on ``amlOutput``;
* latency at ``--rate`` messages/s for ``--seconds``: from publishing (as the sensor) to
  receiving the prediction, p50/p95/p99/max, measured twice: straight to the module's
  input, and on the sensor's output through the route
  ``FROM /messages/modules/tempSensor/outputs/temperatureOutput INTO BrokeredEndpoint(...)``
  (applied by the module, which subscribes to the route's source).

Publisher, listener, broker and module share this machine's cores (and whatever else runs on
it): give the load average with the figures.

The deployment is built (its model image reused from ``--workspace`` when given) and
deleted, with its model image when the workspace was a temporary one; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.edge import lifecycle  # noqa: E402
from serving.edge.runtime.mqtt import (  # noqa: E402
    connect,
    make_client,
    publish_properties,
    user_properties,
)
from serving.edge.runtime.topics import MESSAGE_ID, Topics  # noqa: E402
from serving.edge.spec import EdgeRecord, EdgeSpec, list_records  # noqa: E402
from serving.workspace import Workspace  # noqa: E402

NAME = "edge-bench"
SENSOR_ROUTE = (
    "FROM /messages/modules/tempSensor/outputs/temperatureOutput "
    'INTO BrokeredEndpoint("/modules/machinelearningmodule/inputs/amlInput")'
)


class Listener:
    """Subscribed to the module's output; receive times (``time.monotonic``) by message id."""

    def __init__(self, port: int, topic: str) -> None:
        self.received: dict[str, float] = {}
        self.done = threading.Condition()
        self.client = make_client(f"bench-listen-{uuid.uuid4().hex[:8]}")
        ready = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        connect(self.client, "127.0.0.1", port, persistent=False)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit("the listener did not subscribe")

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        mid = user_properties(message).get(MESSAGE_ID, "")
        with self.done:
            self.received[mid] = time.monotonic()
            self.done.notify_all()

    def wait(self, ids: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.done:
            while any(i not in self.received for i in ids) and time.monotonic() < deadline:
                self.done.wait(0.2)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(port: int, topic: str, count: int, rate: float | None, out: Connection) -> None:
    """In its own process (its own interpreter lock, like a real sensor): publish ``count``
    one-row messages, paced at ``rate`` per second (None: as fast as it goes); sends back
    ``[(message id, time.monotonic() at publish)]`` once the broker acknowledged them all."""
    client = make_client(f"bench-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    connect(client, "127.0.0.1", port, persistent=False)
    client.loop_start()
    connected.wait(10)
    messages = bodies(count)
    sent: list[tuple[str, float]] = []
    infos = []
    started = time.monotonic()
    for n, body in enumerate(messages):
        if rate is not None and (pause := started + n / rate - time.monotonic()) > 0:
            time.sleep(pause)
        mid = str(uuid.uuid4())
        props = publish_properties({MESSAGE_ID: mid})
        sent.append((mid, time.monotonic()))
        infos.append(client.publish(topic, body, qos=1, properties=props))
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()
    out.send(sent)


def run_publisher(port: int, topic: str, count: int, rate: float | None) -> list[tuple[str, float]]:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=publish, args=(port, topic, count, rate, sender))
    process.start()
    sent: list[tuple[str, float]] = receiver.recv()
    process.join(timeout=30)
    return sent


def bodies(count: int) -> list[bytes]:
    from sklearn.datasets import load_digits

    x, _y = load_digits(return_X_y=True)
    return [json.dumps({"data": [x[i % len(x)].tolist()]}).encode() for i in range(count)]


def throughput(listener: Listener, port: int, topic: str, count: int) -> float:
    sent = run_publisher(port, topic, count, None)
    ids = [mid for mid, _at in sent]
    listener.wait(ids, 120)
    got = [listener.received[i] for i in ids if i in listener.received]
    elapsed = max(got) - sent[0][1]
    rate = len(got) / elapsed
    print(f"throughput: {len(got)}/{count} predictions in {elapsed:.2f} s = {rate:,.0f} msg/s")
    return rate


def latency(
    listener: Listener, port: int, topic: str, rate: float, seconds: float, label: str
) -> None:
    sent = run_publisher(port, topic, int(rate * seconds), rate)
    listener.wait([mid for mid, _at in sent], 60)
    ms = sorted((listener.received[m] - at) * 1000 for m, at in sent if m in listener.received)
    q = statistics.quantiles(ms, n=100)
    print(
        f"latency {label} at {rate:.0f} msg/s ({len(ms)}/{len(sent)} answered): "
        f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {ms[-1]:.1f} ms"
    )


def deploy(ws: Workspace) -> EdgeRecord:
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    if not ws.models.list():
        x, y = load_digits(return_X_y=True)
        path = ws.path / "digits" / "model.pkl"  # the template's score.py loads model.pkl
        path.parent.mkdir(exist_ok=True)
        joblib.dump(LogisticRegression(max_iter=2000).fit(x, y), path)
        ws.models.register(path, "digits")
    spec = EdgeSpec(
        NAME,
        ("digits",),
        ROOT / "scoring_templates" / "sklearn" / "score.py",
        str(ROOT / "examples" / "edge" / "env.yml"),
        routes={"sensorToModel": SENSOR_ROUTE},
    )
    return lifecycle.deploy(ws, spec, lambda line: print(f"  {line.strip()[:110]}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    folder = args.workspace or Path(tempfile.mkdtemp(prefix="edge-bench-"))
    ws = Workspace.open(folder, create=True)
    if any(r.name == NAME for r in list_records(ws)):
        lifecycle.delete(ws, NAME, lambda _line: None)  # left by an interrupted run
    try:
        record = deploy(ws)
        t = Topics(record.device, record.prefix)
        port = record.broker_port
        listener = Listener(port, t.output(record.module, "amlOutput"))
        model_input = t.input(record.module, "amlInput")
        latency(listener, port, model_input, 50, 2, "warm-up")
        throughput(listener, port, model_input, args.messages)
        latency(listener, port, model_input, args.rate, args.seconds, "direct")
        sensor_topic = t.output("tempSensor", "temperatureOutput")
        latency(
            listener,
            port,
            sensor_topic,
            args.rate,
            args.seconds,
            "sensor output -> route -> module",
        )
        listener.close()
    finally:
        lifecycle.delete(ws, NAME, lambda _line: None)
        if args.workspace is None:  # a throw-away workspace: its model image goes too
            remove_images(ws)


def remove_images(ws: Workspace) -> None:
    from serving.images.engine import docker_client, find_image

    client = docker_client()
    for record in ws.images.list():
        if find_image(client, record.image_id) is not None:
            client.images.remove(record.image_id, force=True)
    client.close()


if __name__ == "__main__":
    main()
