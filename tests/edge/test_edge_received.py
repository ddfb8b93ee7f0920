"""Received MQTT 5 properties: the one-pass decoder gives what paho's own class gives
(attributes, length used, ``str()``, ``pack()``) and refuses what paho refuses."""

from __future__ import annotations

import random

import pytest
from paho.mqtt.exception import MQTTException
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from serving.edge.runtime.received import ReceivedProperties, install


def _random_properties(rng: random.Random) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if rng.random() < 0.5:
        props.MessageExpiryInterval = rng.randint(1, 10**6)
    if rng.random() < 0.5:
        props.ContentType = "application/json"
    if rng.random() < 0.5:
        props.CorrelationData = bytes(rng.getrandbits(8) for _ in range(5))
    if rng.random() < 0.5:
        props.ResponseTopic = "replies/ü"
    if rng.random() < 0.5:
        props.SubscriptionIdentifier = rng.randint(1, 10**5)
    if rng.random() < 0.5:
        props.PayloadFormatIndicator = 1
    for n in range(rng.randint(0, 3)):
        props.UserProperty = (f"$.k{n}", f"välue {n}")
    return props


def test_decodes_as_paho_does() -> None:
    rng = random.Random(7)
    for _ in range(300):
        buffer = _random_properties(rng).pack() + b'{"data": 1}'
        theirs, their_len = Properties(PacketTypes.PUBLISH).unpack(buffer)  # type: ignore[no-untyped-call]
        ours, our_len = ReceivedProperties(PacketTypes.PUBLISH).unpack(buffer)
        assert our_len == their_len
        assert str(ours) == str(theirs)
        assert ours.json() == theirs.json()  # type: ignore[no-untyped-call]
        assert ours.pack() == theirs.pack()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    "buffer",
    [
        b"\x05\x03\x00\x09abc",  # a string longer than the properties
        b"\x03\x02\x00\x00",  # a four-byte integer cut short
        b"\x04\x03\x00\x01\x00",  # a null in a string
        b"\x06\x01\x01\x01\x01",  # the same single property twice ... and cut
        b"\x03\x21\x00\x00",  # ReceiveMaximum 0 (paho's range check: 1-65535)
        b"\x02\x01\x02",  # PayloadFormatIndicator 2 (only 0 or 1)
    ],
)
def test_refuses_malformed_properties(buffer: bytes) -> None:
    with pytest.raises((MQTTException, IndexError)):
        ReceivedProperties(PacketTypes.PUBLISH).unpack(buffer)


def test_installed_in_pahos_decoder() -> None:
    from paho.mqtt import _packet

    assert install()
    assert _packet.Properties is ReceivedProperties  # type: ignore[attr-defined]
