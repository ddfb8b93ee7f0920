"""IoT Edge deployment manifests: the generated one for the digits model passes the structure
check (and the documented tutorial manifest does), and each wrong field fails it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from serving.edge.manifest import CHUNK, ManifestInput, generate, split_create_options
from serving.edge.manifest_check import check_manifest
from serving.edge.spec import default_routes

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tutorial_manifest.json"


def digits_manifest() -> dict[str, Any]:
    routes = default_routes("machinelearningmodule", "amlOutput", "amlInput", sensor=True)
    spec = ManifestInput(
        "machinelearningmodule",
        "$CONTAINER_REGISTRY_ADDRESS/serving/edge-digits:1",
        routes,
        sensor=True,
    )
    return generate(spec)


def test_generated_digits_manifest_passes() -> None:
    doc = digits_manifest()
    assert check_manifest(doc) == []
    agent = doc["modulesContent"]["$edgeAgent"]["properties.desired"]
    module = agent["modules"]["machinelearningmodule"]
    options = json.loads(module["settings"]["createOptions"])
    assert options["Cmd"] == ["-m", "serving.edge.runtime"]
    assert module["env"]["AML_APP_ROOT"] == {"value": "/var/azureml-app"}
    creds = agent["runtime"]["settings"]["registryCredentials"]["modelregistry"]
    assert creds["password"] == "$CONTAINER_REGISTRY_PASSWORD"
    hub = doc["modulesContent"]["$edgeHub"]["properties.desired"]
    assert hub["storeAndForwardConfiguration"] == {"timeToLiveSecs": 7200}
    assert any("INTO $upstream" in r for r in hub["routes"].values())


def test_the_documented_tutorial_manifest_passes() -> None:
    assert check_manifest(json.loads(FIXTURE.read_text())) == []


def test_create_options_are_split_at_512_characters() -> None:
    options = {"Env": ["X=" + "y" * 1200]}
    chunks = split_create_options(options)
    assert list(chunks) == ["createOptions", "createOptions01", "createOptions02"]
    assert all(len(c) <= CHUNK for c in chunks.values())
    assert json.loads("".join(chunks.values())) == options
    doc = digits_manifest()
    settings = doc["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"][
        "machinelearningmodule"
    ]["settings"]
    settings.update(split_create_options(options))
    assert check_manifest(doc) == []


def _agent(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["modulesContent"]["$edgeAgent"]["properties.desired"]  # type: ignore[no-any-return]


def _hub(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["modulesContent"]["$edgeHub"]["properties.desired"]  # type: ignore[no-any-return]


def _ml(doc: dict[str, Any]) -> dict[str, Any]:
    return _agent(doc)["modules"]["machinelearningmodule"]  # type: ignore[no-any-return]


BREAKS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "schema version": (lambda d: _agent(d).update(schemaVersion="2.0"), "schemaVersion"),
    "runtime type": (lambda d: _agent(d)["runtime"].update(type="podman"), "runtime.type"),
    "restart policy": (lambda d: _ml(d).update(restartPolicy="sometimes"), "restartPolicy"),
    "status": (lambda d: _ml(d).update(status="paused"), "status"),
    "createOptions object": (
        lambda d: _ml(d)["settings"].update(createOptions={"HostConfig": {}}),
        "must be strings",
    ),
    "createOptions chunk": (
        lambda d: _ml(d)["settings"].update(createOptions="{" + " " * 600 + "}"),
        "longer than 512",
    ),
    "createOptions gap": (
        lambda d: _ml(d)["settings"].update(createOptions02="{}"),
        "consecutive",
    ),
    "env form": (lambda d: _ml(d)["env"].update(AML_APP_ROOT="/var"), 'must be {"value"'),
    "real secret": (
        lambda d: next(
            iter(_agent(d)["runtime"]["settings"]["registryCredentials"].values())
        ).update(password="s3cr3t-Pa55"),
        "placeholder",
    ),
    "route sink": (
        lambda d: _hub(d)["routes"].update(
            x='FROM /messages/* INTO BrokeredEndpoint("/modules/nope/inputs/i")'
        ),
        "is not deployed",
    ),
    "route text": (lambda d: _hub(d)["routes"].update(x="SEND everything"), "FROM <source>"),
    "route priority": (
        lambda d: _hub(d)["routes"].update(x={"route": "FROM /* INTO $upstream", "priority": 12}),
        "priority",
    ),
    "ttl": (
        lambda d: _hub(d)["storeAndForwardConfiguration"].update(timeToLiveSecs=-1),
        "timeToLiveSecs",
    ),
    "no image": (lambda d: _ml(d)["settings"].pop("image"), "settings.image"),
    "startupOrder on 1.0": (
        lambda d: _agent(d).update(schemaVersion="1.0"),
        "needs schemaVersion 1.1",
    ),
}


@pytest.mark.parametrize("source", ["fixture", "generated"])
@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_wrong_field_fails(case: str, source: str) -> None:
    doc = json.loads(FIXTURE.read_text()) if source == "fixture" else digits_manifest()
    doc = copy.deepcopy(doc)
    breaker, expected = BREAKS[case]
    breaker(doc)
    problems = check_manifest(doc)
    assert problems, case
    assert any(expected in p for p in problems), problems
