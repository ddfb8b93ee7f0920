"""`serving edge ...`: model images as MQTT modules beside a Mosquitto broker on this
machine, and Azure IoT Edge deployment manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import click

from serving.cli.common import (
    common,
    emit_list,
    emit_one,
    emit_or_say,
    is_json,
    out,
    say,
    shows,
    step_progress,
    workspace,
)
from serving.edge import client as mqtt_client
from serving.edge import lifecycle
from serving.edge.manifest import ManifestInput, generate
from serving.edge.manifest_check import require_valid
from serving.edge.runtime.settings import DEFAULT_TTL_S
from serving.edge.runtime.topics import DEFAULT_INPUT, DEFAULT_OUTPUT, Topics
from serving.edge.spec import DEFAULT_MODULE, EdgeSpec, default_routes, list_records, load_record
from serving.errors import UserInputError


def parse_route_options(values: tuple[str, ...]) -> dict[str, str] | None:
    """``--route NAME=TEXT`` (or bare TEXT, named route1, route2...); None when none given."""
    if not values:
        return None
    routes: dict[str, str] = {}
    for i, value in enumerate(values, 1):
        name, sep, text = value.partition("=")
        if not sep or name.strip().upper().startswith("FROM") or " " in name.strip():
            name, text = f"route{i}", value
        routes[name.strip()] = text.strip()
    return routes


@click.group("edge")
def edge() -> None:
    """Edge modules: a model as an MQTT module with store-and-forward, routes in the IoT
    Edge syntax, and IoT Edge deployment manifests."""


@edge.command("deploy")
@click.argument("name")
@click.option("--model", "models", multiple=True, required=True, help="NAME[:VERSION], repeatable.")
@click.option("--entry-script", type=click.Path(path_type=Path), required=True)
@click.option("--env", required=True, help="Environment file or registered NAME[:VERSION].")
@click.option("--source-dir", type=click.Path(path_type=Path))
@click.option("--module", default=DEFAULT_MODULE, show_default=True, help="Module name.")
@click.option("--route", "routes", multiple=True, help="NAME=FROM ... INTO ..., repeatable.")
@click.option("--ttl", type=float, default=DEFAULT_TTL_S, show_default=True, help="Outbox TTL (s).")
@click.option("--outbox-max", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--sensor", is_flag=True, help="Add the simulated temperature sensor (tempSensor).")
@click.option("--sensor-interval", type=float, default=5.0, show_default=True)
@click.option("--broker-port", type=click.IntRange(0, 65535), default=0, help="127.0.0.1 port.")
@click.option("--upstream-bridge", metavar="HOST:PORT", help="Bridge $upstream to this broker.")
@shows
def deploy(
    name: str,
    models: tuple[str, ...],
    entry_script: Path,
    env: str,
    source_dir: Path | None,
    module: str,
    routes: tuple[str, ...],
    ttl: float,
    outbox_max: int,
    sensor: bool,
    sensor_interval: float,
    broker_port: int,
    upstream_bridge: str | None,
) -> None:
    """Run the model as an edge module: broker, module, routes (and sensor) in Docker."""
    spec = EdgeSpec(
        name, models, entry_script, env, source_dir, module=module,
        routes=parse_route_options(routes), ttl_s=ttl, outbox_max=outbox_max, sensor=sensor,
        sensor_interval_s=sensor_interval, broker_port=broker_port,
        upstream_bridge=upstream_bridge,
    )  # fmt: skip
    with step_progress(f"deploying edge module {name}") as progress:
        record = lifecycle.deploy(workspace(), spec, progress)
    _show(record.name)


def _show(name: str) -> None:
    record, states = lifecycle.status(workspace(), name)
    topics = Topics(record.device, record.prefix)
    data = {
        "name": record.name,
        "state": record.state,
        "image": record.image,
        "broker": f"mqtt://127.0.0.1:{record.broker_port}",
        "input": topics.input(record.module, record.input),
        "output": topics.output(record.module, record.output),
        "error_output": topics.output(record.module, record.error_output),
        "upstream": topics.upstream,
        "metrics": f"http://127.0.0.1:{record.status_port}/metrics",
        "routes": record.routes,
        "containers": states,
        "ttl_s": record.ttl_s,
    }
    emit_one(data)


@edge.command("show")
@click.argument("name")
@shows
def show(name: str) -> None:
    """The deployment: topics, broker, metrics URL, routes and container states."""
    _show(name)


@edge.command("list")
@shows
def list_() -> None:
    """Edge deployments in the workspace."""
    rows = [
        {
            "name": r.name,
            "state": r.state,
            "module": r.module,
            "broker": r.broker_port,
            "image": r.image,
        }
        for r in list_records(workspace())
    ]
    emit_list(
        rows,
        [
            ("name", "NAME"),
            ("state", "STATE"),
            ("module", "MODULE"),
            ("broker", "BROKER PORT"),
            ("image", "IMAGE"),
        ],
    )


@edge.command("send")
@click.argument("name")
@click.option("--input", "input_name", default=DEFAULT_INPUT, show_default=True)
@click.option("--module", help="Target module (default: the model module).")
@click.option("--data", help="Message body (JSON text).")
@click.option(
    "--file", "file_", type=click.File("rb"), help="Message body from a file ('-': stdin)."
)
@click.option("--count", type=click.IntRange(1, 1_000_000), default=1, show_default=True)
@common
def send(
    name: str,
    input_name: str,
    module: str | None,
    data: str | None,
    file_: IO[bytes] | None,
    count: int,
) -> None:
    """Publish a message (QoS 1) to a module's input; prints its message id."""
    if (data is None) == (file_ is None):
        raise UserInputError("give the body with --data JSON or --file PATH")
    body = data.encode() if data is not None else file_.read() if file_ else b""
    record = load_record(workspace(), name)
    ids = mqtt_client.send(record, module or record.module, input_name, [body] * count)
    for mid in ids:
        say(mid)


@edge.command("listen")
@click.argument("name")
@click.option("--output", "output_name", default=DEFAULT_OUTPUT, show_default=True)
@click.option("--module", help="Source module (default: the model module).")
@click.option("--upstream", is_flag=True, help="Listen to $upstream instead.")
@click.option(
    "--count", type=click.IntRange(0), default=0, help="Stop after this many (0: no limit)."
)
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Stop after this long idle (s)."
)
@common
def listen(
    name: str, output_name: str, module: str | None, upstream: bool, count: int, timeout: float
) -> None:
    """Print messages on a module's output (one JSON line each) as they come."""
    record = load_record(workspace(), name)
    topics = Topics(record.device, record.prefix)
    topic = topics.upstream if upstream else topics.output(module or record.module, output_name)
    for message in mqtt_client.listen(record, topic, count=count, timeout_s=timeout):
        out.print(json.dumps(message.as_dict()), highlight=False, soft_wrap=True, markup=False)


@edge.command("logs")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["module", "broker", "router", "sensor"]),
    default="module",
    show_default=True,
)
@click.option("--tail", type=click.IntRange(1), default=100, show_default=True)
@common
def logs(name: str, role: str, tail: int) -> None:
    """The last lines of a container's log."""
    out.print(lifecycle.logs(workspace(), name, role, tail), highlight=False, markup=False)


@edge.command("delete")
@click.argument("name")
@common
def delete(name: str) -> None:
    """Remove the containers, network, outbox and broker data."""
    with step_progress(f"deleting edge deployment {name}") as progress:
        lifecycle.delete(workspace(), name, progress)
    emit_or_say({"name": name, "deleted": True}, f"edge deployment {name} deleted")


@edge.command("manifest")
@click.argument("name")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option(
    "--image",
    help="Image as the device pulls it (default: the deployment's image under "
    "$CONTAINER_REGISTRY_ADDRESS).",
)
@click.option(
    "--module", help="Module name (default: the deployment's, else machinelearningmodule)."
)
@click.option("--route", "routes", multiple=True, help="NAME=FROM ... INTO ..., repeatable.")
@click.option(
    "--ttl", type=float, help="Store-and-forward TTL (s) (default: the deployment's, else 7200)."
)
@click.option("--sensor", is_flag=True, help="Add the simulated temperature sensor module.")
@common
def manifest(
    name: str,
    output: Path,
    image: str | None,
    module: str | None,
    routes: tuple[str, ...],
    ttl: float | None,
    sensor: bool,
) -> None:
    """Write an Azure IoT Edge deployment manifest (schema 1.1) for NAME."""
    ws = workspace()
    record = next((r for r in list_records(ws) if r.name == name), None)
    module = module or (record.module if record else DEFAULT_MODULE)
    if image is None:
        if record is None or not record.image:
            raise UserInputError(f"no edge deployment {name!r} here: give --image")
        image = f"$CONTAINER_REGISTRY_ADDRESS/{record.image}"
    route_map = parse_route_options(routes) or (
        record.routes if record else default_routes(module, DEFAULT_OUTPUT, DEFAULT_INPUT, sensor)
    )
    if sensor and record is not None and not routes:
        route_map = default_routes(module, record.output, record.input, True)
    ttl_s = ttl if ttl is not None else (record.ttl_s if record else DEFAULT_TTL_S)
    doc = generate(ManifestInput(module, image, route_map, ttl_s, sensor))
    require_valid(doc)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(output)
    if is_json():
        emit_one(
            {
                "name": name,
                "output": str(output),
                "modules": [module, *(["tempSensor"] if sensor else [])],
            }
        )
    else:
        say(
            f"wrote {output} (IoT Edge schema 1.1, module {module}); "
            "fill in $CONTAINER_REGISTRY_* before 'az iot edge set-modules'"
        )
