"""Checks an IoT Edge deployment manifest against the documented structure (schema 1.0 and
1.1 of ``$edgeAgent`` and ``$edgeHub``); every problem is reported with its JSON path.

See :mod:`serving.edge.manifest` for why this is hand-written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from serving.edge.manifest import (
    CHUNK,
    MAX_CHUNKS,
    MAX_MODULES,
    PLACEHOLDER,
    PULL_POLICIES,
    RESTART_POLICIES,
    ROUTE_TEXT,
    SCHEMA_VERSIONS,
    SINK_MODULE,
    STATUSES,
)
from serving.edge.runtime.routes import UPSTREAM
from serving.errors import UserInputError

INT32_MAX = 2**31 - 1


class _Problems(list[str]):
    def need(self, ok: bool, path: str, what: str) -> bool:
        if not ok:
            self.append(f"{path}: {what}")
        return ok

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if self.need(isinstance(value, dict), path, "must be an object"):
            return value  # type: ignore[no-any-return]
        return {}


def check_manifest(doc: Any, *, placeholders: bool = True) -> list[str]:
    """Every problem found (empty: valid). ``placeholders``: registry usernames and
    passwords must be placeholders (``$NAME``, ``${NAME}`` or ``<...>``), never secrets."""
    p = _Problems()
    content = p.mapping(p.mapping(doc, "$").get("modulesContent"), "$.modulesContent")
    agent = p.mapping(content.get("$edgeAgent"), "$edgeAgent")
    hub = p.mapping(content.get("$edgeHub"), "$edgeHub")
    desired = p.mapping(agent.get("properties.desired"), "$edgeAgent.properties.desired")
    modules = _check_agent(p, desired, placeholders)
    hub_desired = p.mapping(hub.get("properties.desired"), "$edgeHub.properties.desired")
    _check_hub(p, hub_desired, set(modules))
    return list(p)


def require_valid(doc: Any) -> None:
    problems = check_manifest(doc)
    if problems:
        raise UserInputError(f"invalid deployment manifest: {'; '.join(problems[:5])}")


def _check_agent(p: _Problems, desired: Mapping[str, Any], placeholders: bool) -> dict[str, Any]:
    base = "$edgeAgent"
    version = desired.get("schemaVersion")
    p.need(version in SCHEMA_VERSIONS, f"{base}.schemaVersion", f"must be one of {SCHEMA_VERSIONS}")
    runtime = p.mapping(desired.get("runtime"), f"{base}.runtime")
    p.need(runtime.get("type") == "docker", f"{base}.runtime.type", "must be 'docker'")
    settings = p.mapping(runtime.get("settings"), f"{base}.runtime.settings")
    creds = p.mapping(settings.get("registryCredentials", {}), f"{base}.registryCredentials")
    for name, cred in creds.items():
        path = f"{base}.registryCredentials.{name}"
        cred = p.mapping(cred, path)
        for key in ("username", "password", "address"):
            p.need(isinstance(cred.get(key), str), f"{path}.{key}", "must be a string")
        for key in ("username", "password") if placeholders else ():
            value = str(cred.get(key, ""))
            p.need(
                bool(PLACEHOLDER.match(value)),
                f"{path}.{key}",
                "must be a placeholder, not a secret",
            )
    system = p.mapping(desired.get("systemModules"), f"{base}.systemModules")
    for name in ("edgeAgent", "edgeHub"):
        _check_module(p, system.get(name), f"{base}.systemModules.{name}", version, system=True)
    modules = p.mapping(desired.get("modules", {}), f"{base}.modules")
    p.need(len(modules) <= MAX_MODULES, f"{base}.modules", f"at most {MAX_MODULES} modules")
    for name, module in modules.items():
        _check_module(p, module, f"{base}.modules.{name}", version, system=False)
    return dict(modules)


def _check_module(p: _Problems, value: Any, path: str, version: Any, *, system: bool) -> None:
    module = p.mapping(value, path)
    p.need(module.get("type") == "docker", f"{path}.type", "must be 'docker'")
    if not system or "status" in module:
        p.need(module.get("status") in STATUSES, f"{path}.status", f"must be one of {STATUSES}")
    if not system or "restartPolicy" in module:
        ok = module.get("restartPolicy") in RESTART_POLICIES
        p.need(ok, f"{path}.restartPolicy", f"must be one of {RESTART_POLICIES}")
    if not system:
        p.need(isinstance(module.get("version"), str), f"{path}.version", "must be a string")
    if "imagePullPolicy" in module:
        ok = module["imagePullPolicy"] in PULL_POLICIES
        p.need(ok, f"{path}.imagePullPolicy", f"must be one of {PULL_POLICIES}")
    if "startupOrder" in module:
        order = module["startupOrder"]
        p.need(version == "1.1", f"{path}.startupOrder", "needs schemaVersion 1.1")
        p.need(
            isinstance(order, int) and order >= 0, f"{path}.startupOrder", "must be an integer >= 0"
        )
    for name, entry in p.mapping(module.get("env", {}), f"{path}.env").items():
        ok = isinstance(entry, dict) and set(entry) == {"value"}
        p.need(ok, f"{path}.env.{name}", 'must be {"value": ...}')
    settings = p.mapping(module.get("settings"), f"{path}.settings")
    p.need(
        isinstance(settings.get("image"), str) and bool(settings.get("image")),
        f"{path}.settings.image",
        "must be an image name",
    )
    _check_create_options(p, settings, f"{path}.settings")


def _check_create_options(p: _Problems, settings: Mapping[str, Any], path: str) -> None:
    keys = ["createOptions"] + [f"createOptions{i:02d}" for i in range(1, MAX_CHUNKS)]
    present = [key for key in keys if key in settings]
    p.need(present == keys[: len(present)], f"{path}.createOptions", "chunks must be consecutive")
    chunks = [settings[key] for key in present]
    if not all(isinstance(c, str) for c in chunks):
        p.append(f"{path}.createOptions: must be strings (ContainerCreate JSON as text)")
        return
    for key, chunk in zip(present, chunks, strict=True):
        p.need(len(chunk) <= CHUNK, f"{path}.{key}", f"longer than {CHUNK} characters")
    if chunks:
        try:
            p.need(
                isinstance(json.loads("".join(chunks)), dict),
                f"{path}.createOptions",
                "must be a JSON object",
            )
        except ValueError as exc:
            p.append(f"{path}.createOptions: not JSON ({exc})")


def _check_hub(p: _Problems, desired: Mapping[str, Any], modules: set[str]) -> None:
    base = "$edgeHub"
    version = desired.get("schemaVersion")
    p.need(version in SCHEMA_VERSIONS, f"{base}.schemaVersion", f"must be one of {SCHEMA_VERSIONS}")
    for name, route in p.mapping(desired.get("routes"), f"{base}.routes").items():
        path = f"{base}.routes.{name}"
        if isinstance(route, dict):
            p.need(version == "1.1", path, "route objects need schemaVersion 1.1")
            priority = route.get("priority", 0)
            p.need(
                isinstance(priority, int) and 0 <= priority <= 9, f"{path}.priority", "must be 0-9"
            )
            ttl = route.get("timeToLiveSecs", 1)
            p.need(
                isinstance(ttl, int) and 0 < ttl <= INT32_MAX,
                f"{path}.timeToLiveSecs",
                "must be a positive int32",
            )
            route = route.get("route")
        if not p.need(isinstance(route, str), path, "must be route text"):
            continue
        match = ROUTE_TEXT.match(route)
        if not p.need(match is not None, path, "must read 'FROM <source> [WHERE ...] INTO <sink>'"):
            continue
        sink = match.group("sink") if match else ""
        target = SINK_MODULE.match(sink)
        p.need(sink == UPSTREAM or target is not None, path, f"unknown sink {sink!r}")
        if target is not None:
            p.need(
                target.group("module") in modules,
                path,
                f"sink module {target.group('module')!r} is not deployed",
            )
    store = p.mapping(
        desired.get("storeAndForwardConfiguration"), f"{base}.storeAndForwardConfiguration"
    )
    ttl = store.get("timeToLiveSecs")
    p.need(
        isinstance(ttl, int) and 0 < ttl <= INT32_MAX,
        f"{base}.storeAndForwardConfiguration.timeToLiveSecs",
        "must be a positive int32",
    )
