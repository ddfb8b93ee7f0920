"""`serving deploy` and `serving endpoints ...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import requests

from serving import httpclient
from serving.cli.common import (
    any_workspace,
    batch_options,
    emit_list,
    emit_one,
    is_json,
    model_option,
    options,
    out,
    shows,
    source_dir_option,
    step_progress,
    workspace,
)
from serving.deploy import service, tls
from serving.deploy.spec import (
    AutoscalePolicy,
    DeploymentSpec,
    KubernetesOptions,
    ReplicaPolicy,
    Resources,
    TlsOptions,
)
from serving.deploy.targets import target_names
from serving.errors import DeploymentError, UserInputError
from serving.hub.remote.workspace import RemoteWorkspace
from serving.registry import EndpointRecord
from serving.runs.datastores import model_data_folder
from serving.workspace import Workspace

REPLICA_COLUMNS = [
    ("replica", "REPLICA"),
    ("state", "STATE"),
    ("revision", "REVISION"),
    ("check", "CHECK"),
    ("in_flight", "IN FLIGHT"),
    ("id", "ID"),
]
DECISION_COLUMNS = [
    ("time", "TIME"),
    ("change", "REPLICAS"),
    ("utilization", "UTIL %"),
    ("reason", "REASON"),
]
LIST_COLUMNS = [
    ("name", "ENDPOINT"),
    ("state", "STATE"),
    ("target", "TARGET"),
    ("models", "MODELS"),
    ("scoring_uri", "SCORING URI"),
]


def _print_deployed(record: EndpointRecord) -> None:
    if is_json():
        emit_one(record.to_dict(with_keys=True))
        return
    out.print(f"endpoint {record.name} is {record.state}", highlight=False)
    out.print(f"scoring URI: {record.scoring_uri}", highlight=False)
    out.print(f"swagger URI: {record.swagger_uri}", highlight=False)
    if record.keys:
        out.print(f"primary key:   {record.keys[0]}", highlight=False)
        out.print(f"secondary key: {record.keys[1]}", highlight=False)


deploy_inputs = options(
    model_option,
    click.option(
        "--entry-script",
        type=click.Path(path_type=Path),
        help="The score.py with init() and run(). Without it: no-code deployment of one "
        "ONNX, scikit-learn or TensorFlow model, served by the platform's scorer.",
    ),
    source_dir_option,
    click.option(
        "--env",
        "env",
        metavar="FILE|NAME[:VERSION]",
        help="A conda env.yml / requirements.txt, or a registered environment (required "
        "with --entry-script; no-code: a built-in one for the model's framework).",
    ),
)


@click.command("deploy")
@click.argument("name")
@deploy_inputs
@click.option("--target", type=click.Choice(target_names()), default="local", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), help="Port on 127.0.0.1 (free one else).")
@click.option("--workers", type=click.IntRange(1, 64), help="Server processes (default: cores).")
@click.option("--threads", type=click.IntRange(1, 256), help="Threads per server process.")
@click.option(
    "--cpu", type=float, help="CPU cores a container may use (docker; cluster, kubernetes: each)."
)
@click.option(
    "--memory", metavar="SIZE", help="Memory limit such as 1g (docker; cluster, kubernetes: each)."
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 16),
    help="Replicas behind one URI (--target cluster, default 2; kubernetes: the minimum).",
)
@click.option(
    "--max-concurrent-requests",
    type=click.IntRange(1),
    help="Requests one replica serves at once; more wait in the queue (--target cluster).",
)
@click.option(
    "--max-queue-wait-ms",
    type=click.IntRange(1),
    help="Longest wait in the queue, then 503 (--target cluster, default 500).",
)
@click.option(
    "--autoscale",
    is_flag=True,
    help="Replicas follow the load between --min-replicas and --max-replicas "
    "(--target cluster, kubernetes; docs/autoscale.md).",
)
@click.option("--min-replicas", type=click.IntRange(1, 16), help="Autoscaler minimum (1).")
@click.option("--max-replicas", type=click.IntRange(1, 16), help="Autoscaler maximum (10).")
@click.option(
    "--target-utilization",
    type=click.IntRange(1, 100),
    help="Percent of the replicas' concurrency the autoscaler aims at (70).",
)
@click.option(
    "--refresh-seconds",
    type=click.FloatRange(0.1, 3600),
    help="How often the autoscaler decides (1).",
)
@click.option(
    "--collect-model-data",
    is_flag=True,
    help="ModelDataCollector in the score.py records to the default datastore "
    "(docs/data-collection.md).",
)
@batch_options
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the manifests to this folder instead of applying them (--target kubernetes).",
)
@click.option(
    "--image-registry",
    metavar="REGISTRY",
    help="Registry the cluster pulls the model image from (--target kubernetes).",
)
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Require a key (Authorization: Bearer <key>) on /score. Default: on for "
    "--target cluster and kubernetes, off for local and docker.",
)
@click.option(
    "--ssl-cert",
    metavar="FILE",
    help="PEM certificate: serve HTTPS only (with --ssl-key; docs/tls.md).",
)
@click.option("--ssl-key", metavar="FILE", help="PEM private key of --ssl-cert.")
@click.option(
    "--ssl-cname", metavar="HOST", help="Host name of the certificate, used in the scoring URI."
)
@click.option("--overwrite", is_flag=True, help="Replace an endpoint of the same name.")
@shows
def deploy(
    name: str,
    models: tuple[str, ...],
    entry_script: Path | None,
    source_dir: Path | None,
    env: str | None,
    target: str,
    port: int | None,
    workers: int | None,
    threads: int | None,
    cpu: float | None,
    memory: str | None,
    replicas: int | None,
    max_concurrent_requests: int | None,
    max_queue_wait_ms: int | None,
    autoscale: bool,
    min_replicas: int | None,
    max_replicas: int | None,
    target_utilization: int | None,
    refresh_seconds: float | None,
    collect_model_data: bool,
    max_batch_size: int | None,
    max_batch_delay_ms: float | None,
    output: Path | None,
    image_registry: str | None,
    auth: bool | None,
    ssl_cert: str | None,
    ssl_key: str | None,
    ssl_cname: str | None,
    overwrite: bool,
) -> None:
    """Deploy registered models with a score.py (or, without one, a single ONNX,
    scikit-learn or TensorFlow model: no-code) as endpoint NAME; print its scoring URI."""
    ws = workspace()
    deployment = DeploymentSpec(
        resources=Resources.parse(cpu, memory),
        replicas=ReplicaPolicy(replicas, max_concurrent_requests, max_queue_wait_ms),
        kubernetes=KubernetesOptions(image_registry=image_registry),
        tls=TlsOptions(ssl_cert, ssl_key, ssl_cname),
        autoscale=AutoscalePolicy(
            autoscale, min_replicas, max_replicas, target_utilization, refresh_seconds
        ),
        collect_model_data=collect_model_data,
        model_data_dir=model_data_folder(ws) if collect_model_data else None,
        max_batch_size=max_batch_size,
        max_batch_delay_ms=max_batch_delay_ms,
    )
    deployment.check_target(target)
    tls.check(deployment.tls)
    given: dict[str, Any] = {
        "models": list(models),
        "entry_script": entry_script,
        "env": env,
        "source_dir": source_dir,
        "auth": auth,
        "workers": workers,
        "threads": threads,
        "deployment": deployment,
    }
    if output is not None:
        _write_manifests(ws, name, target, output, given)
        return
    with step_progress(f"deploying {name} ({target})") as progress:
        record = service.deploy(
            ws, name, target=target, port=port, overwrite=overwrite, progress=progress, **given
        )
    _print_deployed(record)


def _write_manifests(
    ws: Workspace, name: str, target: str, output: Path, given: dict[str, Any]
) -> None:
    if target != "kubernetes":
        raise UserInputError("--output applies to --target kubernetes")
    with step_progress(f"writing Kubernetes manifests for {name}") as progress:
        files, keys = service.write_manifests(ws, name, output=output, progress=progress, **given)
    _print_manifests(files, keys)


def _print_manifests(files: list[Path], keys: tuple[str, ...]) -> None:
    if is_json():
        emit_one({"manifests": [str(f) for f in files], "keys": list(keys)})
        return
    for path in files:
        out.print(f"wrote {path}", highlight=False)
    if keys:
        out.print(f"primary key:   {keys[0]}", highlight=False)
        out.print(f"secondary key: {keys[1]}", highlight=False)
    out.print(
        "apply them with: kubectl apply -f <folder> (see README, 'Kubernetes')", highlight=False
    )


@click.group("endpoints")
def endpoints() -> None:
    """Inspect, call and manage deployed endpoints."""


@endpoints.command("list")
@shows
def list_endpoints() -> None:
    """List endpoints with their real state."""
    ws = any_workspace()
    records = ws.endpoints.list() if isinstance(ws, RemoteWorkspace) else service.observe_all(ws)
    emit_list([r.to_dict() for r in records], LIST_COLUMNS)


@endpoints.command("show")
@click.argument("name")
@shows
def show(name: str) -> None:
    """Show one endpoint (state reconciled with the running process)."""
    found = any_workspace()
    if isinstance(found, RemoteWorkspace):  # the server reconciles; replicas stay there
        emit_one(found.endpoints.get(name).to_dict())
        return
    ws = found
    record = service.observe(ws, name)
    data = record.to_dict()
    data["runtime"] = record.runtime
    rows = service.replicas(ws, name)
    scaling = service.autoscaling(ws, name)
    if is_json():
        data["replicas"] = rows
        if scaling is not None:
            data["autoscale"] = scaling
        emit_one(data)
        return
    emit_one(data)
    if rows:
        out.print()
        emit_list(rows, REPLICA_COLUMNS)
    if scaling is not None:
        _print_autoscaling(scaling)


def _print_autoscaling(scaling: dict[str, Any]) -> None:
    """The policy in one line, then the last decisions (newest last)."""
    out.print()
    out.print(
        f"autoscale: {scaling['replicas']} replica(s) now (set to {scaling['desired']}), "
        f"{scaling['min_replicas']} to {scaling['max_replicas']} at "
        f"{scaling['target_utilization']}% of {scaling['per_replica_concurrency']} concurrent "
        f"request(s) per replica; refresh {scaling['refresh_seconds']:g} s, "
        f"cool-down {scaling['cooldown_seconds']:g} s",
        highlight=False,
    )
    rows = [
        {**d, "change": f"{d['from']} -> {d['to']}" + ("" if d["ok"] else " (failed)")}
        for d in scaling["decisions"]
    ]
    emit_list(rows, DECISION_COLUMNS)


def _payload(data: str) -> bytes:
    if data.startswith("@"):
        path = Path(data[1:])
        if not path.is_file():
            raise UserInputError(f"payload file {path} does not exist")
        return path.read_bytes()
    return data.encode("utf-8")


@endpoints.command("invoke")
@click.argument("name")
@click.option("--data", "-d", required=True, metavar="JSON|@FILE", help="Request body.")
@click.option("--key", help="Key to send (default: the endpoint's primary key).")
@shows
def invoke(name: str, data: str, key: str | None) -> None:
    """POST a JSON body to the endpoint's scoring URI and print the answer."""
    record = workspace().endpoints.get(name)
    if not record.scoring_uri:
        raise DeploymentError(f"endpoint {name} has no scoring URI (state {record.state})")
    headers = {"Content-Type": "application/json"}
    key = key or (record.keys[0] if record.keys else None)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        resp = httpclient.post(
            record.scoring_uri, data=_payload(data), headers=headers, timeout=300
        )
    except requests.RequestException as exc:
        raise DeploymentError(
            f"cannot reach {record.scoring_uri}: {exc}", hint=f"see 'serving endpoints show {name}'"
        ) from exc
    if resp.status_code != 200:
        try:
            message = resp.json().get("message", resp.text)
        except ValueError:
            message = resp.text
        raise DeploymentError(f"{resp.status_code} from {name}: {message}")
    try:
        body = resp.json()
    except ValueError:
        out.print(resp.text, highlight=False, markup=False)
        return
    out.print(json.dumps(body, indent=None if not is_json() else 2), highlight=False, markup=False)


@endpoints.command("logs")
@click.argument("name")
@click.option("--tail", type=click.IntRange(1), default=200, show_default=True)
@click.option(
    "--replica",
    metavar="K",
    help="One replica (r2 or 2; 'balancer', 'supervisor'); default: every replica.",
)
@shows
def logs(name: str, tail: int, replica: str | None) -> None:
    """Print the endpoint's server log (of each replica, or of one)."""
    ws = any_workspace()
    if isinstance(ws, RemoteWorkspace):
        text = ws.endpoints.logs(name, tail, replica)
    else:
        text = service.logs(ws, name, tail, replica=replica)
    if is_json():
        emit_one({"name": name, "lines": text.splitlines()})
    else:
        click.echo(text)


@endpoints.command("keys")
@click.argument("name")
@click.option(
    "--regen",
    type=click.Choice(["primary", "secondary"]),
    help="Replace one key; the old one stops working at once.",
)
@shows
def keys(name: str, regen: str | None) -> None:
    """Print (or regenerate) the endpoint's primary and secondary keys."""
    found = any_workspace()
    if isinstance(found, RemoteWorkspace) and not regen:
        keys = found.endpoints.keys(name)
    else:
        ws = workspace()
        keys = (service.regen_key(ws, name, regen) if regen else ws.endpoints.get(name)).keys
    if not keys:
        raise UserInputError(f"endpoint {name} has no keys: it was deployed without --auth")
    if is_json():
        emit_one({"primary": keys[0], "secondary": keys[1]})
    else:
        out.print(f"primary:   {keys[0]}\nsecondary: {keys[1]}", highlight=False)


@endpoints.command("update")
@click.argument("name")
@click.option("--model", "-m", "models", multiple=True, metavar="NAME[:VERSION]")
@click.option("--entry-script", type=click.Path(path_type=Path))
@click.option("--source-dir", type=click.Path(path_type=Path))
@click.option("--env", "env", metavar="FILE|NAME[:VERSION]")
@shows
def update(
    name: str,
    models: tuple[str, ...],
    entry_script: Path | None,
    source_dir: Path | None,
    env: str | None,
) -> None:
    """Redeploy NAME with new models, script or environment (keys and port kept)."""
    with step_progress(f"updating {name}") as progress:
        record = service.update(
            workspace(),
            name,
            models=list(models) or None,
            entry_script=entry_script,
            source_dir=source_dir,
            env=env,
            progress=progress,
        )
    _print_deployed(record)


@endpoints.command("scale")
@click.argument("name")
@click.option("--replicas", type=click.IntRange(1, 16), required=True, help="The new count.")
@shows
def scale(name: str, replicas: int) -> None:
    """Change the number of replicas of NAME (new ones serve once ready, removed ones are
    drained first: no request fails)."""
    ws = workspace()
    with step_progress(f"scaling {name} to {replicas}") as progress:
        service.scale(ws, name, replicas, progress)
    rows = service.replicas(ws, name)
    if is_json():
        emit_one({"name": name, "replicas": rows})
        return
    out.print(f"endpoint {name} has {replicas} replica(s)", highlight=False)
    emit_list(rows, REPLICA_COLUMNS)


@endpoints.command("delete")
@click.argument("name")
@shows
def delete(name: str) -> None:
    """Stop the endpoint and remove it."""
    with step_progress(f"deleting {name}") as progress:
        service.delete(workspace(), name, progress)
    if is_json():
        emit_one({"deleted": name})
    else:
        out.print(f"deleted {name}", highlight=False)
