"""``python -m serving.edge.runtime.router``: applies a deployment's routes on the broker.

A small process (in its own container, from the module's image) subscribes with a
persistent session to the source filter of every route and republishes each message to the
sinks of the routes that take it, with its properties; it acknowledges an input only when
the broker has acknowledged every copy (QoS 1 both ways, manual acknowledgements), so the
router can be killed at any moment: the broker redelivers what it had not finished.
At least once, like the edge hub. Routes come as JSON in ``SERVING_EDGE_ROUTES``; those
into the model module (``SERVING_EDGE_MODULE``) are left to it: it subscribes to their
sources itself.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import paho.mqtt.client as mqtt

from serving.edge.runtime.mqtt import connect, make_client
from serving.edge.runtime.routes import Route, output_of
from serving.edge.runtime.settings import EdgeSettings
from serving.edge.runtime.topics import Topics

_log = logging.getLogger("serving.edge.router")


def targets(routes: list[Route], topics: Topics, topic: str) -> list[str]:
    """The sink topics of a message published on ``topic`` (distinct, in route order)."""
    source = output_of(topics, topic)
    if source is None:
        return []
    out: list[str] = []
    for route in routes:
        sink = route.sink_topic(topics)
        if route.takes(*source) and sink not in out:
            out.append(sink)
    return out


class Router:
    """Forwards along routes; state is touched only in paho's network thread."""

    def __init__(self, settings: EdgeSettings, routes: list[Route], client: mqtt.Client) -> None:
        self.settings = settings
        self.routes = routes
        self.topics = settings.topics
        self.client = client
        self._waiting: dict[int, int] = {}  # input mid -> copies not yet acknowledged
        self._copies: dict[int, int] = {}  # copy mid -> input mid
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_publish = self._on_publish

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        if code.is_failure:
            return
        filters = sorted({route.source_filter(self.topics) for route in self.routes})
        if filters:
            client.subscribe([(f, 1) for f in filters])
        _log.info("routing %d routes from %s", len(self.routes), ", ".join(filters))

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        sinks = targets(self.routes, self.topics, message.topic)
        if not sinks:
            client.ack(message.mid, message.qos)
            return
        self._waiting[message.mid] = len(sinks)
        for sink in sinks:
            info = client.publish(sink, message.payload, qos=1, properties=message.properties)
            self._copies[info.mid] = message.mid

    def _on_publish(self, client: mqtt.Client, _u: Any, mid: int, _code: Any, _p: Any) -> None:
        source = self._copies.pop(mid, None)
        if source is None:
            return
        left = self._waiting.get(source, 1) - 1
        if left > 0:
            self._waiting[source] = left
            return
        self._waiting.pop(source, None)
        client.ack(source, 1)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = EdgeSettings.from_env()
    routes = [r for r in settings.parsed_routes() if r.sink_module != settings.module]
    client = make_client(f"{settings.device}/$router", manual_ack=True)
    Router(settings, routes, client)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    connect(client, settings.broker_host, settings.broker_port)
    client.loop_start()
    stopped.wait()
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
