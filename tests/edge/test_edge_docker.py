"""Edge modules for real: Mosquitto (Debian's package, in its container) on a private Docker
network, the model image in edge mode, paho-mqtt clients on 127.0.0.1 (acceptance 1-4 of
the edge issue)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from serving.edge.manifest_check import check_manifest
from serving.edge.spec import EdgeSpec
from serving.images.engine import docker_client
from serving.workspace import Workspace
from tests.edge.harness import (
    EDGE_ENV,
    ROOT,
    SCRIPTS,
    Listener,
    Publisher,
    deployed,
    metric,
    topics,
)
from tests.helpers import CliResult

pytestmark = pytest.mark.docker

DIGITS_SCRIPT = ROOT / "scoring_templates" / "sklearn" / "score.py"


def test_thousand_messages_get_correct_predictions_and_bad_ones_go_to_the_error_output(
    edge_ws: Workspace, digits_model: Path
) -> None:
    import joblib
    from sklearn.datasets import load_digits

    x, _y = load_digits(return_X_y=True)
    model = joblib.load(digits_model)  # the file registered as digits:1
    spec = EdgeSpec("edge-digits", ("digits:1",), DIGITS_SCRIPT, str(EDGE_ENV), routes={})
    with deployed(edge_ws, spec) as record:
        t = topics(record)
        out = Listener(record, t.output(record.module, "amlOutput"))
        errors = Listener(record, t.output(record.module, "amlError"))
        pub = Publisher(record, t.input(record.module, "amlInput"))
        rows = {}
        for i in range(1000):
            row = x[i % len(x)]
            rows[pub.publish(json.dumps({"data": [row.tolist()]}).encode())] = row
        assert pub.wait_acked(1000, 30) == 1000
        got = out.wait_for(1000, 60)
        assert len(got) == 1000
        expected = model.predict(np.array(list(rows.values()))).tolist()
        by_mid = {props["$.mid"]: json.loads(body) for _t, body, props in got}
        assert [by_mid[mid] for mid in rows] == [[e] for e in expected]
        assert all(props["AzureMLResponse"] == "OK" for _t, _b, props in got)
        bad = pub.publish(b'{"data": [[1, 2')
        good = pub.publish(json.dumps({"data": [x[7].tolist()]}).encode())
        failure = errors.wait_for(1, 20)
        assert len(failure) == 1 and failure[0][2]["$.mid"] == bad
        assert json.loads(failure[0][1])["messageId"] == bad
        after = out.wait_for(1001, 20)
        assert after[-1][2]["$.mid"] == good and json.loads(after[-1][1]) == [7]
        assert metric(record, "serving_edge_messages_failed_total") == 1
        for client in (out, errors, pub):
            client.close()


def test_results_wait_for_the_broker_in_order_and_expired_ones_are_counted(
    edge_ws: Workspace,
) -> None:
    spec = EdgeSpec("edge-outage", ("digits:1",), SCRIPTS / "echo.py", str(EDGE_ENV), routes={})
    with deployed(edge_ws, spec) as record:
        t = topics(record)
        out = Listener(record, t.output(record.module, "amlOutput"))
        pub = Publisher(record, t.input(record.module, "amlInput"))
        sent = []
        short_lived = ""
        started = time.monotonic()
        for i in range(150):  # 50 ms each: 7.5 s of results, most made while the broker is down
            body = json.dumps({"i": i, "sleep_ms": 50}).encode()
            if i == 140:  # its result, made ~7 s in, expires ~2 s later, before the broker is back
                short_lived = pub.publish(body, expiry_s=2)
            else:
                sent.append(pub.publish(body))
        assert pub.wait_acked(150, 20) == 150
        pub.close()
        client = docker_client()
        broker = client.containers.get(record.containers["broker"])
        time.sleep(0.5)
        broker.stop(timeout=5)
        stopped_at = time.monotonic()
        delivered_before = len(set(out.mids()))
        assert stopped_at - started < 6, "the broker stopped too late for this test's timing"
        time.sleep(10)
        produced_while_down = metric(record, "serving_edge_outbox_depth")
        broker.start()
        assert not out.wait_for_ids(set(sent), 60)
        mids = out.mids()
        first_seen = list(dict.fromkeys(mids))
        missing = [sent.index(m) for m in set(sent) - set(first_seen)]
        assert first_seen == sent, f"{len(first_seen)}/{len(sent)} results, missing #{missing}"
        assert short_lived not in mids
        assert metric(record, "serving_edge_messages_expired_total") == 1
        # every result not delivered when the broker stopped waited in the outbox (a few
        # may have been on their way through the broker then)
        waiting = len(sent) - delivered_before
        assert waiting > 20, f"only {waiting} results were left when the broker stopped"
        assert produced_while_down >= waiting - 5, (produced_while_down, waiting)
        assert time.monotonic() - stopped_at >= 10
        out.close()
        client.close()


def test_a_module_killed_under_a_stream_loses_no_acknowledged_message(edge_ws: Workspace) -> None:
    spec = EdgeSpec("edge-kill", ("digits:1",), SCRIPTS / "echo.py", str(EDGE_ENV), routes={})
    with deployed(edge_ws, spec) as record:
        t = topics(record)
        out = Listener(record, t.output(record.module, "amlOutput"))
        pub = Publisher(record, t.input(record.module, "amlInput"))
        client = docker_client()
        module = client.containers.get(record.containers["module"])
        started = time.monotonic()
        killed = False
        i = 0
        while time.monotonic() - started < 6:  # a bounded stream, ~200 messages/s
            pub.publish(json.dumps({"i": i}).encode())
            i += 1
            if not killed and time.monotonic() - started > 2:
                module.kill()
                module.start()
                killed = True
            time.sleep(0.005)
        pub.wait_acked(i, 20)
        acked = set(pub.acked)
        assert len(acked) > 500
        lost = out.wait_for_ids(acked, 60)
        assert not lost, f"{len(lost)} acknowledged messages lost of {len(acked)}"
        duplicates = len(out.mids()) - len(set(out.mids()))
        print(f"{len(acked)} acknowledged, all answered; {duplicates} answered twice")
        module.reload()
        assert module.attrs["RestartCount"] == 0 and module.status == "running"
        pub.close()
        out.close()
        client.close()


def test_the_tutorial_iot_score_runs_unchanged_fed_by_the_simulated_sensor(
    edge_ws: Workspace,
) -> None:
    script = ROOT / "examples" / "edge" / "iot_score.py"
    spec = EdgeSpec(
        "edge-tutorial", ("model.pkl:1",), script, str(EDGE_ENV), sensor=True, sensor_interval_s=0.1
    )
    with deployed(edge_ws, spec) as record:
        t = topics(record)
        upstream = Listener(record, t.upstream)
        errors = Listener(record, t.output(record.module, "amlError"))
        got = upstream.wait_for(10, 30)
        assert len(got) >= 10
        for _topic, body, props in got:
            value = json.loads(body)
            assert isinstance(value, list) and len(value) == 1
            reading = json.loads(value[0])
            assert isinstance(reading["anomaly"], bool) and "machine" in reading
            assert props["AzureMLResponse"] == "OK"
        anomalies = [json.loads(json.loads(b)[0]) for _t, b, _p in got]
        hot = [r["machine"]["temperature"] > 45 for r in anomalies]
        assert [r["anomaly"] for r in anomalies] == hot
        pub = Publisher(record, t.input(record.module, "amlInput"))
        bad = pub.publish(b'{"machine": {}}')  # the tutorial's latent NameError
        failure = errors.wait_for(1, 20)
        assert failure and failure[0][2]["$.mid"] == bad
        assert "UnboundLocalError" in json.loads(failure[0][1])["error"]  # a NameError
        good_reading = {
            "machine": {"temperature": 21.5, "pressure": 2.5},
            "ambient": {"temperature": 21.0, "humidity": 25},
            "timeCreated": "2026-01-01T00:00:00Z",
        }
        good = pub.publish(json.dumps(good_reading).encode())
        deadline = time.monotonic() + 20
        while good not in upstream.mids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert good in upstream.mids()
        client = docker_client()
        module = client.containers.get(record.containers["module"])
        deadline = time.monotonic() + 30  # the image's health check: every 10 s on /health/ready
        while module.attrs["State"].get("Health", {}).get("Status") != "healthy":
            assert time.monotonic() < deadline, module.attrs["State"].get("Health")
            time.sleep(1)
            module.reload()
        client.close()
        for c in (upstream, errors, pub):
            c.close()


def test_the_cli_deploys_shows_listens_sends_and_deletes(
    edge_ws: Workspace, edge_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_WORKSPACE", str(edge_ws.path))
    name = "edge-cli"
    deployed_ = edge_cli(
        "edge", "deploy", name, "--model", "digits:1", "--entry-script", SCRIPTS / "echo.py",
        "--env", EDGE_ENV, "--sensor", "--sensor-interval", "0.2",
    )  # fmt: skip
    try:
        assert deployed_.code == 0, deployed_.err
        shown = edge_cli("edge", "show", name, "-o", "json").json()
        assert isinstance(shown, dict) and shown["state"] == "Running"
        assert set(shown["containers"].values()) == {"running"}
        heard = edge_cli("edge", "listen", name, "--upstream", "--count", "2", "--timeout", "20")
        lines = [json.loads(line) for line in heard.out.splitlines()]
        assert len(lines) == 2 and "machine" in lines[0]["body"]["echo"]
        assert lines[0]["properties"]["AzureMLResponse"] == "OK"
        sent = edge_cli("edge", "send", name, "--data", '{"a": 1}')
        assert sent.code == 0 and len(sent.out.strip()) == 36
        logs = edge_cli("edge", "logs", name, "--tail", "50")
        assert "edge module machinelearningmodule" in logs.out
        manifest_path = edge_ws.path / "deployment.json"
        written = edge_cli("edge", "manifest", name, "--output", manifest_path, "--sensor")
        assert written.code == 0, written.err
        assert check_manifest(json.loads(manifest_path.read_text())) == []
    finally:
        deleted = edge_cli("edge", "delete", name)
    assert deleted.code == 0
    assert not docker_client().containers.list(all=True, filters={"label": f"serving.edge={name}"})
