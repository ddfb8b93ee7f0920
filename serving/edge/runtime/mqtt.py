"""paho-mqtt 2.x clients as every edge process uses them: MQTT 5, callback API version 2,
fixed client ids with persistent sessions (the broker queues QoS 1 messages for a module
while it is down), automatic reconnects, and user properties as plain dicts."""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from serving.edge.runtime import received

_log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
"""How long the broker keeps a disconnected client's session and queued messages."""
KEEPALIVE_S = 15
INFLIGHT = 100
"""QoS 1 messages a client sends before waiting for acknowledgements."""


def make_client(client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    """An MQTT 5 client; ``manual_ack``: inputs are acknowledged by the caller
    (:meth:`mqtt.Client.ack`) once their outcome is safe, not when the callback returns.
    Received properties are decoded by :mod:`~serving.edge.runtime.received`."""
    if not received.install():
        _warn_slow_properties()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )
    client.max_inflight_messages_set(INFLIGHT)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.on_socket_open = _no_delay
    return client


@functools.cache
def _warn_slow_properties() -> None:
    """Once per process: this paho's decoder could not use the fast properties class."""
    _log.warning("this paho-mqtt's decoder was not patched: received properties are slower")


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Nagle's algorithm off: paho leaves it on, and a small message then waits for the TCP
    acknowledgement of the previous one (tens of milliseconds at low rates)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect(client: mqtt.Client, host: str, port: int, *, persistent: bool = True) -> None:
    """Start connecting in the background (``loop_start`` afterwards); a persistent session
    survives disconnects for :data:`SESSION_EXPIRY_S`."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    client.connect_async(
        host, port, keepalive=KEEPALIVE_S, clean_start=not persistent, properties=props
    )


def user_properties(message: mqtt.MQTTMessage) -> dict[str, str]:
    """A received message's MQTT 5 user properties (the last value of a repeated key)."""
    props = getattr(message, "properties", None)
    pairs = getattr(props, "UserProperty", None) or []
    return {str(k): str(v) for k, v in pairs}


def expiry(message: mqtt.MQTTMessage) -> float | None:
    """A received message's remaining expiry interval in seconds, if it has one."""
    props = getattr(message, "properties", None)
    value = getattr(props, "MessageExpiryInterval", None)
    return float(value) if value is not None else None


class PackedProperties(Properties):
    """PUBLISH properties encoded once, by hand (MQTT 5.0 section 3.3.2.3).

    Hand-written because paho's generic :class:`Properties` cost more per message than
    scoring a small model (a 27-entry name table built per instance, every attribute
    re-validated by name): measured at about a quarter of a module's time per message.
    paho only calls :meth:`pack` on what it publishes.
    """

    packed: bytes

    def __init__(self, packed: bytes) -> None:  # paho's __init__ skipped on purpose
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)
        object.__setattr__(self, "packed", packed)

    def pack(self) -> bytes:
        return bytes(self.packed)

    def __str__(self) -> str:
        return f"PackedProperties({self.packed!r})"


def utf8(text: str) -> bytes:
    """An MQTT UTF-8 string: two-byte length, then the bytes."""
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


def varint(value: int) -> bytes:
    """An MQTT variable byte integer (MQTT 5.0 section 1.5.5)."""
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def publish_properties(
    user: Mapping[str, str], *, expiry_s: float | None = None, json_body: bool = True
) -> PackedProperties:
    """PUBLISH properties: user properties, content type and, if set, message expiry."""
    body = bytearray()
    if expiry_s is not None:
        body += b"\x02" + max(1, int(expiry_s)).to_bytes(4, "big")  # Message Expiry Interval
    if json_body:
        body += b"\x03" + utf8("application/json")  # Content Type
    for key, value in user.items():
        body += b"\x26" + utf8(key) + utf8(value)  # User Property
    return PackedProperties(varint(len(body)) + bytes(body))
