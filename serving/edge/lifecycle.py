"""The edge deployment lifecycle on this machine's Docker Engine: deploy, show, logs, delete.

``deploy`` builds (or reuses) the model image with the bridge's MQTT client added to its
environment, builds the Mosquitto image once, then starts on a private network: the broker
(persistence in the deployment's folder, 127.0.0.1 port for ``send``/``listen``), the model
module in edge mode (outbox in the deployment's folder), the router when there are routes,
and the simulated sensor when asked. The record is written first (``Transitioning``) and
every container carries the deployment's labels, so ``delete`` cleans up after a deploy
that failed or was interrupted at any step.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import time
from typing import TYPE_CHECKING

from serving.deploy.base import Progress
from serving.deploy.inputs import check_script, env_spec, resolve_models
from serving.deploy.toolkit import (
    LOOPBACK,
    container_log,
    exit_error,
    exited_early,
    free_port,
    is_ready,
    wait_until,
)
from serving.edge import broker as brokers
from serving.edge.containers import (
    container_name,
    edge_labels,
    module_kwargs,
    network_name,
    router_kwargs,
    sensor_kwargs,
)
from serving.edge.runtime.settings import EdgeSettings
from serving.edge.runtime.topics import DEFAULT_ERROR_OUTPUT, Topics
from serving.edge.spec import (
    EDGE_LABEL,
    EDGE_REQUIREMENT,
    RECORD_NAME,
    WORKSPACE_LABEL,
    EdgeRecord,
    EdgeSpec,
    edge_folder,
    load_record,
    save_record,
)
from serving.environments import EnvSpec
from serving.errors import ConflictError, DeploymentError
from serving.images.build import ImageBuilder
from serving.images.engine import docker_client
from serving.images.model import BuildRequest
from serving.workspace import Workspace

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

START_TIMEOUT_S = 120.0


def with_edge_client(env: EnvSpec) -> EnvSpec:
    """The environment plus paho-mqtt (unless it names a version of its own)."""
    if any(line.lower().startswith(("paho-mqtt", "paho_mqtt")) for line in env.requirements):
        return env
    requirements = tuple(sorted({*env.requirements, EDGE_REQUIREMENT}))
    return dataclasses.replace(env, requirements=requirements)


def new_record(ws: Workspace, spec: EdgeSpec) -> EdgeRecord:
    return EdgeRecord(
        name=spec.name,
        workspace=str(ws.path),
        device=spec.name,
        prefix=spec.prefix,
        module=spec.module,
        input=spec.input,
        output=spec.output,
        error_output=DEFAULT_ERROR_OUTPUT,
        routes=spec.route_map,
        network=network_name(spec.name),
        ttl_s=spec.ttl_s,
    )


def module_settings(spec: EdgeSpec) -> EdgeSettings:
    return EdgeSettings(
        broker_host=container_name(spec.name, "broker"),
        device=spec.name,
        prefix=spec.prefix,
        module=spec.module,
        input=spec.input,
        output=spec.output,
        ttl_s=spec.ttl_s,
        outbox_max=spec.outbox_max,
        routes=json.dumps(spec.route_map),
    )


def deploy(ws: Workspace, spec: EdgeSpec, progress: Progress) -> EdgeRecord:
    """Build and start everything; the record of the running deployment."""
    if (edge_folder(ws, spec.name) / RECORD_NAME).exists():
        raise ConflictError(
            f"edge deployment {spec.name!r} exists",
            hint=f"delete it first: serving edge delete {spec.name}",
        )
    models = resolve_models(ws, list(spec.models))
    script, source = check_script(spec.entry_script, spec.source_dir)
    env = with_edge_client(env_spec(ws, spec.env, spec.name))
    record = new_record(ws, spec)
    save_record(ws, record)
    try:
        request = BuildRequest(
            models, script, source, env, name=f"serving/edge-{spec.name}", service_name=spec.module
        )
        record.image = ImageBuilder(ws).build(request, progress).record.tag
        save_record(ws, record)
        client = docker_client()
        try:
            _start(ws, client, spec, record, progress)
        finally:
            client.close()
    except BaseException:
        record.state = "Failed"
        save_record(ws, record)
        raise
    record.state = "Running"
    save_record(ws, record)
    progress(f"edge deployment {spec.name} is running (broker on {LOOPBACK}:{record.broker_port})")
    return record


def _start(
    ws: Workspace, client: DockerClient, spec: EdgeSpec, record: EdgeRecord, progress: Progress
) -> None:
    import docker

    image = brokers.ensure_broker_image(client, progress)
    try:
        client.networks.get(record.network)
    except docker.errors.NotFound:
        client.networks.create(
            record.network, driver="bridge", labels=edge_labels(spec.name, str(ws.path), "network")
        )
    folder = edge_folder(ws, spec.name)
    topics = Topics(spec.name, spec.prefix)
    options = brokers.BrokerOptions(topics.upstream, spec.upstream_bridge)
    brokers.write_config(folder / "broker", options)
    record.broker_port = spec.broker_port or free_port()
    record.status_port = free_port()
    progress(f"starting the broker (Mosquitto) on {LOOPBACK}:{record.broker_port}")
    name = container_name(spec.name, "broker")
    labels = edge_labels(spec.name, str(ws.path), "broker")
    kwargs = brokers.broker_kwargs(
        name, record.network, folder / "broker", record.broker_port, image, labels
    )
    record.containers["broker"] = _run(client, kwargs).name or name
    save_record(ws, record)
    wait_for_broker(record.broker_port)
    settings = module_settings(spec)
    (folder / "module").mkdir(exist_ok=True)
    progress(f"starting the module {spec.module} in edge mode")
    kwargs = module_kwargs(
        record.image, str(ws.path), settings, folder / "module", record.status_port
    )
    module = _run(client, kwargs)
    record.containers["module"] = module.name or kwargs["name"]
    save_record(ws, record)
    wait_for_module(module, record.status_port, progress)
    if any(route.sink_module != spec.module for route in spec.parsed_routes()):
        kwargs = router_kwargs(record.image, str(ws.path), settings)
        record.containers["router"] = _run(client, kwargs).name or kwargs["name"]
    if record.routes:
        progress(f"routes applied: {', '.join(record.routes)}")
    if spec.sensor:
        kwargs = sensor_kwargs(record.image, str(ws.path), settings, spec.sensor_interval_s)
        record.containers["sensor"] = _run(client, kwargs).name or kwargs["name"]
        progress("simulated temperature sensor started (tempSensor)")


def _run(client: DockerClient, kwargs: dict[str, object]) -> Container:
    import docker

    try:
        return client.containers.run(**kwargs)
    except docker.errors.APIError as exc:
        raise DeploymentError(
            f"Docker could not start {kwargs['name']}: {exc.explanation}",
            hint="is the port free? choose another --broker-port, or leave it out",
        ) from exc


def wait_for_broker(port: int, timeout_s: float = 30.0) -> None:
    """Until the broker accepts TCP connections on 127.0.0.1:``port``."""

    def accepts() -> bool:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1.0):
                return True
        except OSError:
            return False

    wait_until(
        accepts,
        progress=lambda _line: None,
        waiting=lambda _waited: "",
        timed_out=lambda waited: DeploymentError(f"the broker did not start in {waited:.0f} s"),
        timeout_s=timeout_s,
    )


def wait_for_module(container: Container, port: int, progress: Progress) -> None:
    """Until the module's init() has run and it is connected (its readiness route)."""

    def ready() -> bool:
        if is_ready(port, timeout_s=1.0):
            return True
        container.reload()
        if exited_early(container):
            raise exit_error(container, f"the module {container.name}", "see its log above")
        return False

    wait_until(
        ready,
        progress=progress,
        waiting=lambda waited: f"waiting for init() and the broker ({waited:.0f} s)",
        timed_out=lambda waited: DeploymentError(
            f"the module was not ready after {waited:.0f} s",
            details=container_log(container, 25),
        ),
        timeout_s=START_TIMEOUT_S,
    )


def containers_of(client: DockerClient, ws: Workspace, name: str) -> list[Container]:
    filters = {"label": [f"{EDGE_LABEL}={name}", f"{WORKSPACE_LABEL}={ws.path}"]}
    return list(client.containers.list(all=True, filters=filters))


def status(ws: Workspace, name: str) -> tuple[EdgeRecord, dict[str, str]]:
    """The record and each container's Docker state, by role."""
    record = load_record(ws, name)
    client = docker_client()
    try:
        found = containers_of(client, ws, name)
        states = {str(c.labels.get("serving.role", c.name)): str(c.status) for c in found}
    finally:
        client.close()
    return record, states


def logs(ws: Workspace, name: str, role: str, tail: int) -> str:
    record = load_record(ws, name)
    cname = record.containers.get(role) or container_name(name, role)
    client = docker_client()
    try:
        import docker

        try:
            return container_log(client.containers.get(cname), tail)
        except docker.errors.NotFound:
            raise DeploymentError(
                f"edge deployment {name!r} has no {role} container",
                hint=f"roles: {', '.join(record.containers) or 'none started'}",
            ) from None
    finally:
        client.close()


def delete(ws: Workspace, name: str, progress: Progress) -> None:
    """Remove the containers, network and folder (the outbox and broker data with them)."""
    load_record(ws, name)
    client = docker_client()
    try:
        for container in containers_of(client, ws, name):
            progress(f"removing {container.name}")
            container.remove(force=True)
        for network in client.networks.list(names=[network_name(name)]):
            if network.attrs.get("Labels", {}).get(WORKSPACE_LABEL) == str(ws.path):
                network.remove()
    finally:
        client.close()
    folder = edge_folder(ws, name)
    trash = folder.with_name(f".{name}.deleting.{time.time_ns()}")
    folder.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
