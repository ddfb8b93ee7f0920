"""MQTT 5 properties of received packets, decoded in one pass (MQTT 5.0 section 2.2.2).

Hand-written because paho-mqtt's generic :class:`~paho.mqtt.properties.Properties` cost more
per received message than scoring a small model: each instance builds its 27-entry tables,
and decoding looks every property's name up by a linear search and re-validates it on
assignment. Profiled in a module at 1 500 messages/s, building and filling them was about a
fifth of its CPU time. :class:`ReceivedProperties` is a ``Properties`` (same attributes, so
``message.properties.UserProperty``, ``pack()`` when the router republishes a message, and
``str()`` behave as paho's) whose tables are built once and whose :meth:`unpack` decodes
straight into the attributes.

paho builds received properties in its packet decoder (``paho.mqtt._packet``, paho 2.2);
:func:`install` points that decoder at this class. With a paho whose decoder lives elsewhere
it changes nothing and paho's own class is used (slower, same results).
"""

from __future__ import annotations

from typing import Any

from paho.mqtt.exception import MalformedPacket, MQTTException
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

_TEMPLATE = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_BYTE, _INT16, _INT32, _VARINT, _BINARY, _UTF8, _PAIR = range(7)
_FIELDS: dict[int, tuple[str, int]] = {
    ident: (name.replace(" ", ""), _TEMPLATE.properties[ident][0])
    for name, ident in _TEMPLATE.names.items()
}
_MULTIPLE = frozenset({11, 38})  # Subscription Identifier, User Property
_RANGES: dict[str, tuple[int, int]] = {
    "ReceiveMaximum": (1, 65535),
    "TopicAlias": (1, 65535),
    "MaximumPacketSize": (1, 268435455),
    "SubscriptionIdentifier": (1, 268435455),
    "RequestResponseInformation": (0, 1),
    "RequestProblemInformation": (0, 1),
    "PayloadFormatIndicator": (0, 1),
}
"""The value ranges paho's ``Properties.__setattr__`` checks (a broker's ReceiveMaximum of 0
would otherwise stop every publish)."""


class ReceivedProperties(Properties):
    """paho's ``Properties`` with shared tables and a one-pass :meth:`unpack`."""

    types = _TEMPLATE.types
    names = _TEMPLATE.names
    properties = _TEMPLATE.properties

    def __init__(self, packetType: int) -> None:
        object.__setattr__(self, "packetType", packetType)

    def unpack(self, buffer: Any) -> tuple[ReceivedProperties, int]:
        """Decode the properties at the start of ``buffer``; returns (self, bytes used)."""
        data = bytes(buffer)
        length, pos = read_varint(data, 0)
        end = pos + length
        if end > len(data):
            raise MalformedPacket("properties longer than the packet")
        while pos < end:
            ident, pos = read_varint(data, pos)
            name, kind = _FIELDS[ident]
            value, pos = _value(data, pos, kind)
            if pos > end:
                raise MalformedPacket("a property reaches past the properties' length")
            bounds = _RANGES.get(name)
            if bounds is not None and not bounds[0] <= value <= bounds[1]:
                raise MQTTException(f"{name} property value must be in the range {bounds}")
            if ident in _MULTIPLE:
                value = [*self.__dict__.get(name, ()), value]
            elif name in self.__dict__:
                raise MQTTException(f"Property '{name}' must not exist more than once")
            object.__setattr__(self, name, value)
        return self, end


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The variable byte integer at ``pos``: (value, position after it)."""
    value, shift = 0, 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos
        if shift > 21:
            raise MalformedPacket("variable byte integer longer than 4 bytes")


def skip_property(data: bytes, ident: int, pos: int) -> int:
    """The position after the value of property ``ident``, whose value starts at ``pos``."""
    return _value(data, pos, _FIELDS[ident][1])[1]


def _value(data: bytes, pos: int, kind: int) -> tuple[Any, int]:
    if kind == _BYTE:
        return data[pos], pos + 1
    if kind == _INT16:
        return int.from_bytes(data[pos : pos + 2], "big"), pos + 2
    if kind == _INT32:
        return int.from_bytes(data[pos : pos + 4], "big"), pos + 4
    if kind == _VARINT:
        return read_varint(data, pos)
    if kind == _PAIR:
        key, pos = _value(data, pos, _UTF8)
        value, pos = _value(data, pos, _UTF8)
        return (key, value), pos
    size = int.from_bytes(data[pos : pos + 2], "big")
    raw = data[pos + 2 : pos + 2 + size]
    if len(raw) != size:
        raise MalformedPacket("property value longer than the packet")
    if kind != _UTF8:
        return raw, pos + 2 + size
    text = raw.decode("utf-8")  # strict: rejects surrogates (MQTT-1.5.4-1)
    if "\x00" in text or "\ufeff" in text:
        raise MalformedPacket("null or U+FEFF in a UTF-8 property (MQTT-1.5.4-2, -3)")
    return text, pos + 2 + size


def install() -> bool:
    """Make paho's packet decoder build :class:`ReceivedProperties`; whether it could."""
    try:
        from paho.mqtt import _packet
    except ImportError:  # another paho layout: paho's own class stays
        return False
    if getattr(_packet, "Properties", None) not in (Properties, ReceivedProperties):
        return False
    setattr(_packet, "Properties", ReceivedProperties)  # noqa: B010 (a module attribute)
    return True
