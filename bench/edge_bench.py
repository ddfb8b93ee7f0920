"""Edge module figures on this machine: the digits model as an MQTT module (Mosquitto and
the module in containers, one-row messages, QoS 1 both ways, end to end through the module).

    python bench/edge_bench.py [--messages 5000] [--rate 200] [--seconds 10] [--workspace DIR]

* throughput: ``--messages`` published as fast as the broker takes them (pipelined up to
  its receive maximum), timed from the first publish to the last prediction received on
  ``amlOutput``; predictions are checked against the digits' labels;
* latency at ``--rate`` messages/s for ``--seconds``: from publishing (as the sensor) to
  receiving the prediction, p50/p95/p99/max, measured twice: straight to the module's
  input, and on the sensor's output through the route
  ``FROM /messages/modules/tempSensor/outputs/temperatureOutput INTO BrokeredEndpoint(...)``
  (applied by the module, which subscribes to the route's source);
* for every phase, the **CPU time per message** of the module's container (its cgroup's
  CPU usage from Docker's stats, before and after the phase), of the benchmark's own
  publisher and listener, and the load average: msg/s depends on what else runs on the
  machine, CPU per message much less.

The publisher and the listener are separate processes (their own interpreter locks) on the
lean socket clients of :mod:`edge_wire`, so the clients' cost is not what limits the figure.
Publisher, listener, broker and module still share this machine's cores (and whatever else
runs on it): give the load average with the figures.

The deployment is built (its model image reused from ``--workspace`` when given) and
deleted, with its model image when the workspace was a temporary one; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_wire import PUBACK, PUBLISH, Wire, parse_publish, puback, publish_packet  # noqa: E402

from serving.edge import lifecycle  # noqa: E402
from serving.edge.runtime.topics import Topics  # noqa: E402
from serving.edge.spec import EdgeRecord, EdgeSpec, list_records  # noqa: E402
from serving.workspace import Workspace  # noqa: E402

NAME = "edge-bench"
SENSOR_ROUTE = (
    "FROM /messages/modules/tempSensor/outputs/temperatureOutput "
    'INTO BrokeredEndpoint("/modules/machinelearningmodule/inputs/amlInput")'
)


class Received:
    """Results by message id: (time.monotonic() at receipt, body), counted by id prefix."""

    def __init__(self) -> None:
        self.got: dict[str, tuple[float, bytes]] = {}
        self.counts: dict[str, int] = {}

    def add(self, packet_id: int, mid: str, body: bytes) -> int:
        if mid not in self.got:
            prefix = mid.rsplit("-", 1)[0]
            self.counts[prefix] = self.counts.get(prefix, 0) + 1
        self.got[mid] = (time.monotonic(), body)
        return packet_id

    def of(self, prefix: str) -> dict[str, tuple[float, bytes]]:
        return {m: v for m, v in self.got.items() if m.rsplit("-", 1)[0] == prefix}


def listen(port: int, topic: str, control: Connection) -> None:
    """In its own process: subscribed to the module's output, acknowledges every result
    (one write per read) and answers ``(prefix, count, timeout_s)`` requests on ``control``
    with ``({message id: (time.monotonic() at receipt, body)}, CPU seconds)`` once ``count``
    results whose id starts with ``prefix`` arrived, or at the timeout."""
    wire = Wire(port, f"bench-listen-{os.getpid()}")
    wire.subscribe(topic)
    control.send("ready")
    received = Received()
    want: tuple[str, int, float, float] | None = None
    while True:
        if want is None and control.poll():
            request = control.recv()
            if request is None:
                break
            prefix, count, timeout_s = request
            want = (prefix, count, time.monotonic() + timeout_s, time.process_time())
        acks = [
            puback(packet_id)
            for first, body in wire.read(0.05)
            if first >> 4 == PUBLISH and (packet_id := received.add(*parse_publish(first, body)))
        ]
        if acks:
            wire.sock.sendall(b"".join(acks))
        if want is not None:
            prefix, count, deadline, cpu_from = want
            if received.counts.get(prefix, 0) >= count or time.monotonic() > deadline:
                control.send((received.of(prefix), time.process_time() - cpu_from))
                want = None
    wire.close()


def publish(
    port: int, topic: str, prefix: str, count: int, rate: float | None, out: Connection
) -> None:
    """In its own process (like a real sensor): publish ``count`` one-row messages with ids
    ``prefix-N``, paced at ``rate`` per second (None: as fast as the broker acknowledges,
    up to its receive maximum in flight); sends back ``([time.monotonic() at publish],
    CPU seconds)`` once the broker acknowledged them all."""
    wire = Wire(port, f"bench-pub-{os.getpid()}")
    window = min(wire.receive_maximum, 1000)
    packets = [
        publish_packet(topic, n % 65535 + 1, f"{prefix}-{n}", body)
        for n, body in enumerate(bodies(count))
    ]
    sent: list[float] = []
    inflight, acked = 0, 0
    cpu_from = time.process_time()
    started = time.monotonic()
    while acked < count:
        due = count if rate is None else min(count, int((time.monotonic() - started) * rate) + 1)
        batch = min(due - len(sent), window - inflight)
        if batch > 0:
            now = time.monotonic()
            wire.sock.sendall(b"".join(packets[len(sent) : len(sent) + batch]))
            sent.extend([now] * batch)
            inflight += batch
        if rate is None or len(sent) == count:
            wait = 0.05
        else:
            wait = max(0.0, started + len(sent) / rate - time.monotonic())
        for first, _body in wire.read(wait):
            if first >> 4 == PUBACK:
                inflight, acked = inflight - 1, acked + 1
    cpu = time.process_time() - cpu_from
    wire.close()
    out.send((sent, cpu))


_DIGITS: Any = None


def digits() -> tuple[Any, Any]:
    global _DIGITS
    if _DIGITS is None:
        from sklearn.datasets import load_digits

        _DIGITS = load_digits(return_X_y=True)
    return _DIGITS


def bodies(count: int) -> list[bytes]:
    x, _y = digits()
    return [json.dumps({"data": [x[i % len(x)].tolist()]}).encode() for i in range(count)]


def expected(index: int) -> int:
    _x, y = digits()
    return int(y[index % len(y)])


class ModuleCpu:
    """CPU time of the module's container (its cgroup's usage, as ``docker stats`` shows)."""

    def __init__(self, record: EdgeRecord) -> None:
        from serving.images.engine import docker_client

        self.container = docker_client().containers.get(record.containers["module"])

    def seconds(self) -> float:
        stats = self.container.stats(stream=False)
        return int(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9


@dataclass
class Phase:
    """What one phase measured."""

    sent: list[tuple[str, float]]
    received: dict[str, tuple[float, bytes]]
    module_cpu_s: float
    client_cpu_s: float
    load: str

    def summary(self) -> str:
        n = max(len(self.received), 1)
        correct = sum(
            1
            for mid, (_t, body) in self.received.items()
            if json.loads(body) == [expected(int(mid.rsplit("-", 1)[1]))]
        )
        return (
            f"  correct predictions {correct}/{len(self.sent)}; CPU per message: module "
            f"{self.module_cpu_s * 1000 / n:.3f} ms, bench clients "
            f"{self.client_cpu_s * 1000 / n:.3f} ms; load average {self.load}"
        )


class Bench:
    """The listener process, the module's CPU meter and phases run against them."""

    def __init__(self, record: EdgeRecord) -> None:
        t = Topics(record.device, record.prefix)
        self.port = record.broker_port
        self.cpu = ModuleCpu(record)
        self.control, theirs = multiprocessing.Pipe()
        self.listener = multiprocessing.Process(
            target=listen, args=(self.port, t.output(record.module, "amlOutput"), theirs)
        )
        self.listener.start()
        if not self.control.poll(15) or self.control.recv() != "ready":
            raise SystemExit("the listener did not subscribe")
        self.phases = 0
        self.run_id = uuid.uuid4().hex[:8]  # the module remembers answered ids for its TTL

    def run(self, topic: str, count: int, rate: float | None) -> Phase:
        self.phases += 1
        prefix = f"{self.run_id}.p{self.phases}"
        self.control.send((prefix, count, 120.0))
        cpu_before = self.cpu.seconds()
        receiver, sender = multiprocessing.Pipe(duplex=False)
        args = (self.port, topic, prefix, count, rate, sender)
        process = multiprocessing.Process(target=publish, args=args)
        process.start()
        times, publisher_cpu = receiver.recv()
        process.join(timeout=30)
        received, listener_cpu = self.control.recv()
        module_cpu = self.cpu.seconds() - cpu_before
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        sent = [(f"{prefix}-{n}", at) for n, at in enumerate(times)]
        return Phase(sent, received, module_cpu, publisher_cpu + listener_cpu, load)

    def close(self) -> None:
        self.control.send(None)
        self.listener.join(timeout=10)


def throughput(bench: Bench, topic: str, count: int) -> float:
    phase = bench.run(topic, count, None)
    got = [phase.received[m][0] for m, _at in phase.sent if m in phase.received]
    elapsed = max(got) - phase.sent[0][1]
    rate = len(got) / elapsed
    print(f"throughput: {len(got)}/{count} predictions in {elapsed:.2f} s = {rate:,.0f} msg/s")
    print(phase.summary())
    return rate


def latency(bench: Bench, topic: str, rate: float, seconds: float, label: str) -> None:
    phase = bench.run(topic, int(rate * seconds), rate)
    ms = sorted((phase.received[m][0] - at) * 1000 for m, at in phase.sent if m in phase.received)
    q = statistics.quantiles(ms, n=100)
    print(
        f"latency {label} at {rate:.0f} msg/s ({len(ms)}/{len(phase.sent)} answered): "
        f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {ms[-1]:.1f} ms"
    )
    print(phase.summary())


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
        bench = Bench(record)
        model_input = t.input(record.module, "amlInput")
        latency(bench, model_input, 50, 2, "warm-up")
        throughput(bench, model_input, args.messages)
        latency(bench, model_input, args.rate, args.seconds, "direct")
        sensor_topic = t.output("tempSensor", "temperatureOutput")
        route = "sensor output -> route -> module"
        latency(bench, sensor_topic, args.rate, args.seconds, route)
        bench.close()
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
