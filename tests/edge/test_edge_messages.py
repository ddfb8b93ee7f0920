"""One message in, one result out (no broker): results, errors, size limit, ids; and the
mapping to the azure-iot-device SDK's messages (that path cannot run here: unit-tested)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from serving.edge.runtime.iothub import in_iot_edge, inbound_from_iothub, outbound_fields
from serving.edge.runtime.messages import Inbound, score_message
from serving.edge.runtime.settings import EdgeSettings
from tests.edge.conftest import scorer_for

SETTINGS = EdgeSettings(device="dev", module="ml")


def test_result_goes_to_the_output_with_ids_and_response_property() -> None:
    scored = score_message(scorer_for("echo.py"), Inbound(b'{"a": 1}', mid="m1"), SETTINGS)
    assert not scored.failed
    assert scored.outgoing.topic == "serving/dev/modules/ml/outputs/amlOutput"
    assert json.loads(scored.outgoing.payload) == {"echo": {"a": 1}}
    assert scored.outgoing.props == {"$.mid": "m1", "$.cid": "m1", "AzureMLResponse": "OK"}


def test_correlation_id_is_copied_when_given() -> None:
    inbound = Inbound(b"{}", mid="m1", cid="c9", ttl_s=30)
    scored = score_message(scorer_for("echo.py"), inbound, SETTINGS)
    assert scored.outgoing.props["$.cid"] == "c9"
    assert scored.outgoing.ttl_s == 30


def test_run_raising_goes_to_the_error_output_with_the_error() -> None:
    scored = score_message(scorer_for("echo.py"), Inbound(b'{"boom": 1}', mid="m2"), SETTINGS)
    assert scored.failed
    assert scored.outgoing.topic == "serving/dev/modules/ml/outputs/amlError"
    body = json.loads(scored.outgoing.payload)
    assert body["messageId"] == "m2"
    assert "ValueError: boom asked for" in body["error"]


def test_malformed_json_goes_to_the_error_output() -> None:
    scored = score_message(scorer_for("echo.py"), Inbound(b"{not json", mid="m3"), SETTINGS)
    assert scored.failed and "JSONDecodeError" in json.loads(scored.outgoing.payload)["error"]


def test_body_over_the_limit_is_not_scored() -> None:
    big = b'{"x": "' + b"a" * (256 * 1024) + b'"}'
    scored = score_message(scorer_for("echo.py"), Inbound(big, mid="m4"), SETTINGS)
    assert scored.failed
    assert "over the limit of 262144 bytes" in json.loads(scored.outgoing.payload)["error"]


def test_settings_round_trip_through_the_environment() -> None:
    settings = EdgeSettings(device="d", module="m", ttl_s=5, outbox_max=7)
    assert EdgeSettings.from_env(settings.to_env()) == settings


def test_iot_edge_is_detected_from_its_variables() -> None:
    env = {"IOTEDGE_MODULEID": "ml", "IOTEDGE_DEVICEID": "d", "IOTEDGE_WORKLOADURI": "unix://x"}
    assert in_iot_edge(env)
    assert not in_iot_edge({"IOTEDGE_MODULEID": "ml"})


def test_iothub_message_maps_to_the_bridge_and_back() -> None:
    sdk_message = SimpleNamespace(
        data=b'{"a": 2}', message_id="m5", correlation_id=None, input_name="amlInput"
    )
    inbound = inbound_from_iothub(sdk_message)
    assert (inbound.payload, inbound.mid, inbound.cid, inbound.input) == (
        b'{"a": 2}',
        "m5",
        None,
        "amlInput",
    )
    out = outbound_fields(score_message(scorer_for("echo.py"), inbound, SETTINGS))
    assert out.output_name == "amlOutput"
    assert json.loads(out.data) == {"echo": {"a": 2}}
    assert (out.message_id, out.correlation_id) == ("m5", "m5")
    assert out.custom_properties == {"AzureMLResponse": "OK"}
    assert (out.content_type, out.content_encoding) == ("application/json", "utf-8")
    failed = outbound_fields(
        score_message(scorer_for("echo.py"), inbound_from_iothub(
            SimpleNamespace(data="{bad", message_id="m6", correlation_id="c", input_name="i")
        ), SETTINGS)
    )  # fmt: skip
    assert failed.output_name == "amlError" and failed.correlation_id == "c"


def test_hand_packed_properties_equal_paho_encoding() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from serving.edge.runtime.mqtt import publish_properties

    ours = publish_properties({"$.mid": "m-1", "k": "é" * 300}, expiry_s=3)
    theirs = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    theirs.MessageExpiryInterval = 3
    theirs.ContentType = "application/json"
    theirs.UserProperty = [("$.mid", "m-1"), ("k", "é" * 300)]
    assert ours.pack() == theirs.pack()  # type: ignore[no-untyped-call]
    assert publish_properties({}, json_body=False).pack() == b"\x00"
