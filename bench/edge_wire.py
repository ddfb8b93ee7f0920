"""The edge benchmark's MQTT 5 clients, written on plain sockets: a publisher and a listener
that cost the benchmark as little as possible per message.

Hand-written instead of paho-mqtt because the benchmark measures the module, not its
clients: on a 2-core machine paho's per-message Python work (packet objects, properties,
callbacks, a lock per message) in the publisher and listener took more CPU than the module
and capped the figure. Here every PUBLISH is encoded before timing starts, QoS 1 messages are
pipelined up to the broker's receive maximum, and a listener's PUBACKs for a whole read leave
in one write. QoS 1 both ways, MQTT 5 user properties (``$.mid``) as the module expects:
the module cannot tell these clients from paho's. The MQTT encoding and property decoding
are the module's own (:mod:`serving.edge.runtime.mqtt`, :mod:`serving.edge.runtime.received`).
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

from serving.edge.runtime.mqtt import utf8, varint
from serving.edge.runtime.received import read_varint, skip_property

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
RECEIVE_MAXIMUM = 0x21


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def publish_packet(topic: str, packet_id: int, mid: str, payload: bytes) -> bytes:
    """PUBLISH, QoS 1, with the user property ``$.mid`` and content type JSON."""
    props = b"\x03" + utf8("application/json") + b"\x26" + utf8("$.mid") + utf8(mid)
    body = utf8(topic) + packet_id.to_bytes(2, "big") + varint(len(props)) + props + payload
    return packet(PUBLISH << 4 | 0x02, body)


class Wire:
    """One MQTT 5 connection (clean start, no session kept): raw packets in and out."""

    def __init__(self, port: int, client_id: str, host: str = "127.0.0.1") -> None:
        self.client_id = client_id
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        header = utf8("MQTT") + b"\x05\x02" + (60).to_bytes(2, "big") + b"\x00"
        self.sock.sendall(packet(CONNECT << 4, header + utf8(client_id)))
        kind, body = next(self.packets(10.0))
        if kind >> 4 != CONNACK or body[1] != 0:
            raise SystemExit(f"the broker refused the benchmark client: {body!r}")
        self.receive_maximum = _connack_receive_maximum(body)

    def subscribe(self, topic: str) -> None:
        body = (1).to_bytes(2, "big") + b"\x00" + utf8(topic) + b"\x01"
        self.sock.sendall(packet(SUBSCRIBE << 4 | 0x02, body))
        for kind, _body in self.packets(10.0):
            if kind >> 4 == SUBACK:
                return

    def packets(self, timeout_s: float) -> Iterator[tuple[int, bytes]]:
        """Packets until nothing more arrives within ``timeout_s``."""
        while batch := self.read(timeout_s):
            yield from batch

    def read(self, timeout_s: float) -> list[tuple[int, bytes]]:
        """The complete packets already read, or else those of one read that arrives
        within ``timeout_s`` (an empty list when nothing came)."""
        ready = list(self._split())
        if ready:
            return ready
        readable, _w, _x = select.select([self.sock], [], [], timeout_s)
        if readable:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise SystemExit(f"the broker closed the connection of {self.client_id}")
            self.buffer += chunk
        return list(self._split())

    def _split(self) -> Iterator[tuple[int, bytes]]:
        buf, at = self.buffer, 0
        while len(buf) - at >= 2:
            length, shift, pos = 0, 0, at + 1
            while pos < len(buf):
                byte = buf[pos]
                length |= (byte & 0x7F) << shift
                shift, pos = shift + 7, pos + 1
                if not byte & 0x80:
                    break
            else:
                break
            if len(buf) - pos < length:
                break
            yield buf[at], bytes(buf[pos : pos + length])
            at = pos + length
        del buf[:at]

    def close(self) -> None:
        self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()


def _connack_receive_maximum(body: bytes) -> int:
    """The broker's Receive Maximum from CONNACK's properties (65535 when absent)."""
    props, pos = read_varint(body, 2)
    end = pos + props
    while pos < end:
        ident = body[pos]
        pos += 1
        if ident == RECEIVE_MAXIMUM:
            return int.from_bytes(body[pos : pos + 2], "big")
        pos = skip_property(body, ident, pos)
    return 65535


def parse_publish(first: int, body: bytes) -> tuple[int, str, bytes]:
    """A received PUBLISH: (packet id or 0, its ``$.mid`` user property or "", payload)."""
    pos = 2 + int.from_bytes(body[:2], "big")
    packet_id = 0
    if first & 0x06:
        packet_id = int.from_bytes(body[pos : pos + 2], "big")
        pos += 2
    length, pos = read_varint(body, pos)
    end, mid = pos + length, ""
    while pos < end:
        ident = body[pos]
        if ident == 0x26:
            key_len = int.from_bytes(body[pos + 1 : pos + 3], "big")
            key = body[pos + 3 : pos + 3 + key_len]
            value_at = pos + 3 + key_len
            value_len = int.from_bytes(body[value_at : value_at + 2], "big")
            if key == b"$.mid":
                mid = body[value_at + 2 : value_at + 2 + value_len].decode()
        pos = skip_property(body, ident, pos + 1)
    return packet_id, mid, body[end:]


def puback(packet_id: int) -> bytes:
    return bytes([PUBACK << 4, 2]) + packet_id.to_bytes(2, "big")
