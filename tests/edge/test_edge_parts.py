"""The host-side parts as data: broker configuration, container arguments, routes from the
command line, the environment given paho-mqtt, and the CLI's one-line errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.cli.edge import parse_route_options
from serving.edge.broker import BrokerOptions, broker_config, broker_kwargs
from serving.edge.containers import module_kwargs, router_kwargs, sensor_kwargs
from serving.edge.lifecycle import module_settings, with_edge_client
from serving.edge.spec import EdgeSpec
from serving.environments import EnvSpec
from serving.errors import UserInputError
from tests.helpers import CliResult

SCRIPT = Path(__file__).resolve().parent / "scripts" / "echo.py"


def test_broker_config_keeps_what_store_and_forward_needs() -> None:
    text = broker_config(BrokerOptions("serving/d/upstream"), as_root=False)
    for line in (
        "persistence true",
        "autosave_interval 1",
        "max_queued_messages 1000000",
        "queue_qos0_messages false",
        "allow_anonymous true",
    ):
        assert line in text.splitlines()
    assert "user root" not in text and "connection" not in text
    bridged = broker_config(BrokerOptions("serving/d/upstream", "hub.example:8883"), as_root=True)
    assert "user root" in bridged
    assert "topic serving/d/upstream out 1" in bridged
    assert "address hub.example:8883" in bridged and "cleansession false" in bridged


def test_containers_run_the_image_in_edge_mode_on_the_private_network(tmp_path: Path) -> None:
    spec = EdgeSpec("edge-x", ("m:1",), SCRIPT, "env.yml", sensor=True)
    settings = module_settings(spec)
    module = module_kwargs("img:1", "/ws", settings, tmp_path, 5555)
    assert module["command"] == ["/opt/serving/env/bin/python", "-m", "serving.edge.runtime"]
    assert module["network"] == "serving-edge-edge-x"
    assert module["ports"] == {"5001/tcp": ("127.0.0.1", 5555)}
    assert module["volumes"] == {str(tmp_path): {"bind": "/var/lib/serving-edge", "mode": "rw"}}
    assert module["user"] == f"{os.getuid()}:{os.getgid()}"
    assert module["environment"]["SERVING_EDGE_BROKER_HOST"] == "serving-edge-edge-x-broker"
    assert module["labels"]["serving.edge"] == "edge-x"
    router = router_kwargs("img:1", "/ws", settings)
    assert router["command"][-1] == "serving.edge.runtime.router"
    assert "sensorToMachinelearningmodule" in router["environment"]["SERVING_EDGE_ROUTES"]
    sensor = sensor_kwargs("img:1", "/ws", settings, 0.5)
    assert sensor["environment"]["SENSOR_INTERVAL_S"] == "0.5"
    broker = broker_kwargs("b", "net", tmp_path, 1884, "broker:1", {})
    assert broker["ports"] == {"1883/tcp": ("127.0.0.1", 1884)}


def test_the_environment_gets_paho_unless_it_names_its_own() -> None:
    env = EnvSpec("e", "3.11", ("numpy",))
    assert with_edge_client(env).requirements == ("numpy", "paho-mqtt>=2.0")
    own = EnvSpec("e", "3.11", ("paho-mqtt==2.1.0",))
    assert with_edge_client(own) is own


def test_route_options() -> None:
    assert parse_route_options(()) is None
    assert parse_route_options(("up=FROM /messages/* INTO $upstream",)) == {
        "up": "FROM /messages/* INTO $upstream"
    }
    assert parse_route_options(("FROM /messages/* INTO $upstream",)) == {
        "route1": "FROM /messages/* INTO $upstream"
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "X"}, "invalid endpoint name"),
        ({"module": "bad name"}, "invalid module"),
        ({"ttl_s": 0}, "must be positive"),
        ({"routes": {"r": "FROM /x INTO $upstream"}}, "unsupported source"),
    ],
)
def test_bad_specs_are_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"name": "edge-x", "models": ("m",), "entry_script": SCRIPT}
    fields["env"] = "env.yml"
    fields.update(kwargs)
    with pytest.raises(UserInputError, match=message):
        EdgeSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["edge", "show", "nope"], "error: no edge deployment named 'nope'"),
        (["edge", "send", "nope", "--data", "{}"], "error: no edge deployment named 'nope'"),
        (["edge", "send", "nope"], "error: give the body with --data JSON or --file PATH"),
        (
            ["edge", "deploy", "edge-x", "--model", "m", "--entry-script", str(SCRIPT),
             "--env", "env.yml", "--route", "r=FROM /messages/* WHERE x INTO $upstream"],
            "error: route 'r': WHERE conditions are not supported here",
        ),
        (["edge", "manifest", "nope", "--output", "x.json"], "error: no edge deployment 'nope'"),
    ],
)  # fmt: skip
def test_cli_errors_are_one_line(
    edge_cli: Callable[..., CliResult], args: list[str], message: str
) -> None:
    result = edge_cli(*args)
    assert result.code != 0
    assert result.err.startswith(message)
    assert "Traceback" not in result.err + result.out
