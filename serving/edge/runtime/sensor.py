"""``python -m serving.edge.runtime.sensor``: a simulated temperature sensor module, like the
IoT Edge tutorial's ``tempSensor``, so a whole chain (sensor -> model -> upstream) can be
watched without hardware.

It publishes the tutorial's body on its output ``temperatureOutput`` every
``SENSOR_INTERVAL_S`` seconds (default 5), ``SENSOR_COUNT`` messages (default 500, 0 for no
end): ``{"machine": {"temperature", "pressure"}, "ambient": {"temperature", "humidity"},
"timeCreated"}``, the machine temperature drifting up from 21 degrees and, now and then,
jumping well above its trend (an anomaly to detect).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import uuid
from datetime import UTC, datetime

from serving.edge.runtime.mqtt import connect, make_client, publish_properties
from serving.edge.runtime.settings import EdgeSettings
from serving.edge.runtime.topics import MESSAGE_ID

MODULE = "tempSensor"
OUTPUT = "temperatureOutput"


def reading(step: int, rng: random.Random) -> dict[str, object]:
    """The ``step``-th reading: a slow drift, noise, and a spike one time in twenty."""
    machine = 21.0 + 0.05 * (step % 200) + rng.gauss(0, 0.3)
    if rng.random() < 0.05:
        machine += rng.uniform(30, 60)
    return {
        "machine": {"temperature": round(machine, 4), "pressure": round(machine * 0.07 + 1, 4)},
        "ambient": {
            "temperature": round(21 + rng.gauss(0, 0.4), 4),
            "humidity": rng.randint(24, 27),
        },
        "timeCreated": datetime.now(UTC).isoformat(),
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = EdgeSettings.from_env()
    interval = float(os.environ.get("SENSOR_INTERVAL_S", "5"))
    count = int(os.environ.get("SENSOR_COUNT", "500"))
    topic = settings.topics.output(MODULE, OUTPUT)
    client = make_client(f"{settings.device}/{MODULE}")
    connect(client, settings.broker_host, settings.broker_port)
    client.loop_start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    rng = random.Random()
    step = 0
    while not stopped.is_set() and (count == 0 or step < count):
        body = json.dumps(reading(step, rng)).encode()
        props = publish_properties({MESSAGE_ID: str(uuid.uuid4())})
        client.publish(topic, body, qos=1, properties=props)
        step += 1
        stopped.wait(interval)
    logging.info("sent %d readings", step)
    stopped.wait()
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
