"""Edge module figures on this machine: the digits model as an MQTT module (Mosquitto and
the module in containers, paho-mqtt clients on 127.0.0.1, one-row messages, QoS 1).

    python bench/edge_bench.py [--messages 5000] [--rate 200] [--seconds 10] [--workspace DIR]

* throughput: ``--messages`` published as fast as the client goes, timed from the first
  publish to the last prediction received on ``amlOutput``;
* latency at ``--rate`` messages/s for ``--seconds``: from publishing (as the sensor) to
  receiving the prediction, p50/p95/p99/max, measured twice: straight to the module's
  input, and from the sensor's output through the router (the route
  ``FROM /messages/modules/tempSensor/outputs/temperatureOutput INTO BrokeredEndpoint(...)``).

The deployment is built (image reused when it exists) and deleted; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
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
from serving.edge.spec import EdgeRecord, EdgeSpec  # noqa: E402
from serving.workspace import Workspace  # noqa: E402

NAME = "edge-bench"
SENSOR_ROUTE = (
    "FROM /messages/modules/tempSensor/outputs/temperatureOutput "
    'INTO BrokeredEndpoint("/modules/machinelearningmodule/inputs/amlInput")'
)


class Probe:
    """A publisher and a listener on the module's output, with receive times by id."""

    def __init__(self, record: EdgeRecord, output: str) -> None:
        self.received: dict[str, float] = {}
        self.done = threading.Condition()
        self.listener = make_client(f"bench-listen-{uuid.uuid4().hex[:8]}")
        ready = threading.Event()
        self.listener.on_connect = lambda c, *_: c.subscribe(output, qos=1)
        self.listener.on_subscribe = lambda *_: ready.set()
        self.listener.on_message = self._on_message
        connect(self.listener, "127.0.0.1", record.broker_port, persistent=False)
        self.listener.loop_start()
        self.publisher = make_client(f"bench-pub-{uuid.uuid4().hex[:8]}")
        self.publisher.max_inflight_messages_set(1000)
        connect(self.publisher, "127.0.0.1", record.broker_port, persistent=False)
        self.publisher.loop_start()
        if not ready.wait(10):
            raise SystemExit("the listener did not subscribe")

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        mid = user_properties(message).get(MESSAGE_ID, "")
        with self.done:
            self.received[mid] = time.perf_counter()
            self.done.notify_all()

    def publish(self, topic: str, body: bytes) -> tuple[str, float]:
        mid = str(uuid.uuid4())
        at = time.perf_counter()
        self.publisher.publish(topic, body, qos=1, properties=publish_properties({MESSAGE_ID: mid}))
        return mid, at

    def wait(self, ids: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.done:
            while any(i not in self.received for i in ids) and time.monotonic() < deadline:
                self.done.wait(0.2)

    def close(self) -> None:
        for client in (self.listener, self.publisher):
            client.disconnect()
            client.loop_stop()


def bodies(count: int) -> list[bytes]:
    from sklearn.datasets import load_digits

    x, _y = load_digits(return_X_y=True)
    return [json.dumps({"data": [x[i % len(x)].tolist()]}).encode() for i in range(count)]


def throughput(probe: Probe, topic: str, count: int) -> float:
    messages = bodies(count)
    started = time.perf_counter()
    ids = [probe.publish(topic, body)[0] for body in messages]
    probe.wait(ids, 120)
    got = sum(1 for i in ids if i in probe.received)
    elapsed = max(probe.received[i] for i in ids if i in probe.received) - started
    print(f"throughput: {got}/{count} predictions in {elapsed:.2f} s = {got / elapsed:,.0f} msg/s")
    return got / elapsed


def latency(probe: Probe, topic: str, rate: float, seconds: float, label: str) -> None:
    messages = bodies(int(rate * seconds))
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for n, body in enumerate(messages):
        pause = started + n / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        mid, at = probe.publish(topic, body)
        sent[mid] = at
    probe.wait(list(sent), 60)
    ms = sorted((probe.received[m] - at) * 1000 for m, at in sent.items() if m in probe.received)
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
        path = ws.path / "digits-model.pkl"
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
    record = deploy(ws)
    try:
        t = Topics(record.device, record.prefix)
        probe = Probe(record, t.output(record.module, "amlOutput"))
        latency(probe, t.input(record.module, "amlInput"), 50, 2, "warm-up")
        throughput(probe, t.input(record.module, "amlInput"), args.messages)
        latency(probe, t.input(record.module, "amlInput"), args.rate, args.seconds, "direct")
        sensor_topic = t.output("tempSensor", "temperatureOutput")
        latency(probe, sensor_topic, args.rate, args.seconds, "sensor -> router -> module")
        probe.close()
    finally:
        lifecycle.delete(ws, NAME, lambda _line: None)


if __name__ == "__main__":
    main()
