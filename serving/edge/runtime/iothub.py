"""The bridge under a real Azure IoT Edge runtime, through the ``azure-iot-device`` SDK
(``pip install serving[iotedge]``; not in the default images).

When the edge agent starts the module it sets the ``IOTEDGE_*`` variables; then the module
talks to the edge hub instead of an MQTT broker, with the same message logic
(:func:`~serving.edge.runtime.messages.score_message`): inputs arrive on
``on_message_received`` (``msg.input_name``), results leave with
``send_message_to_output(Message, output)``; the edge hub does the store-and-forward.

This path cannot run without an IoT Hub and an edge runtime: the mapping between SDK
messages and the bridge's (:func:`inbound_from_iothub`, :func:`outbound_fields`) is pure
and unit-tested; :func:`run_iothub` only wires it to the SDK.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.edge.runtime.messages import Inbound, Scored, score_message
from serving.edge.runtime.settings import EdgeSettings
from serving.edge.runtime.status import EdgeMetrics
from serving.edge.runtime.topics import CORRELATION_ID, MESSAGE_ID
from serving.errors import UserInputError
from serving.scoring import Scorer

_log = logging.getLogger("serving.edge")

EDGE_VARIABLES = ("IOTEDGE_MODULEID", "IOTEDGE_DEVICEID", "IOTEDGE_WORKLOADURI")
"""Set by the edge agent for every module it starts."""


def in_iot_edge(environ: Mapping[str, str]) -> bool:
    """An Azure IoT Edge runtime started this process."""
    return all(environ.get(name) for name in EDGE_VARIABLES)


@dataclass(frozen=True)
class IotHubOutput:
    """The arguments of one ``Message`` and its ``send_message_to_output``."""

    output_name: str
    data: str
    message_id: str | None
    correlation_id: str | None
    custom_properties: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    content_encoding: str = "utf-8"


def inbound_from_iothub(message: Any) -> Inbound:
    """An SDK ``Message`` (``data``, ``message_id``, ``correlation_id``, ``input_name``,
    ``expiry_time_utc``) as the bridge's input."""
    data = message.data
    payload = data if isinstance(data, bytes) else str(data or "").encode("utf-8")
    return Inbound(
        payload=payload,
        mid=message.message_id or None,
        cid=message.correlation_id or None,
        input=message.input_name or "",
        received=time.monotonic(),
    )


def outbound_fields(scored: Scored) -> IotHubOutput:
    """The bridge's result as an SDK message for its output (the last part of its topic):
    ids become the message's own fields, other properties its custom properties
    (``AzureMLResponse`` among them)."""
    props = dict(scored.outgoing.props)
    mid = props.pop(MESSAGE_ID, None)
    cid = props.pop(CORRELATION_ID, None)
    return IotHubOutput(
        output_name=scored.outgoing.topic.rsplit("/", 1)[-1],
        data=scored.outgoing.payload.decode("utf-8", "replace"),
        message_id=mid,
        correlation_id=cid,
        custom_properties=props,
    )


def run_iothub(settings: EdgeSettings, scorer: Scorer, metrics: EdgeMetrics) -> None:
    """Serve inputs from the edge hub until SIGTERM."""
    try:
        from azure.iot.device import IoTHubModuleClient, Message
    except ImportError:
        raise UserInputError(
            "IOTEDGE_* is set but azure-iot-device is not installed in this image",
            hint="add azure-iot-device to the environment (pip install serving[iotedge])",
        ) from None
    client = IoTHubModuleClient.create_from_edge_environment()
    lock = threading.Lock()  # one run() at a time, as the HTTP server

    def handle(message: Any) -> None:
        metrics.received.inc()
        with lock:
            scored = score_message(scorer, inbound_from_iothub(message), settings)
        out = outbound_fields(scored)
        sdk_message = Message(
            out.data, content_encoding=out.content_encoding, content_type=out.content_type
        )
        sdk_message.message_id = out.message_id
        sdk_message.correlation_id = out.correlation_id
        sdk_message.custom_properties.update(out.custom_properties)
        client.send_message_to_output(sdk_message, out.output_name)
        (metrics.failed if scored.failed else metrics.sent).inc()

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    client.on_message_received = handle
    client.connect()
    _log.info("connected to the edge hub as module %s", settings.module)
    try:
        stopped.wait()
    finally:
        client.shutdown()
