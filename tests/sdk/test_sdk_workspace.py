"""Workspace the v1 way: create/get/from_config with Azure details, get_details,
write_config, and the dictionary views (models, environments, webservices, compute_targets)
that still answer as the internal registries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from serving.registry import Ref
from serving.sdk import Model, UserErrorException, Workspace
from serving.sdk.views import EnvironmentsView, ModelsView


def test_create_records_the_azure_details(v1ws: Workspace, project: Path) -> None:
    assert v1ws.name == "v1-samples"
    assert (v1ws.subscription_id, v1ws.resource_group, v1ws.location) == (
        "0000-sub", "rg-samples", "westeurope",
    )  # fmt: skip
    details = v1ws.get_details()
    assert details["name"] == "v1-samples" and details["location"] == "westeurope"
    assert details["id"].startswith("/subscriptions/0000-sub/resourceGroups/rg-samples/")
    assert v1ws.path == (project / ".serving").resolve()


def test_local_values_without_azure_details(project: Path) -> None:
    ws = Workspace.create("plain", show_output=False)
    assert (ws.subscription_id, ws.resource_group, ws.location) == ("local",) * 3


def test_create_exist_ok_false_refuses_an_existing_one(v1ws: Workspace) -> None:
    with pytest.raises(UserErrorException, match="already exists"):
        Workspace.create("v1-samples", exist_ok=False, show_output=False)


def test_create_warns_about_azure_only_arguments(project: Path) -> None:
    with pytest.warns(UserWarning, match="sku mean nothing"):
        Workspace.create("w", sku="enterprise", show_output=False)


def test_write_config_then_from_config_and_get(v1ws: Workspace, project: Path) -> None:
    written = Path(v1ws.write_config())
    assert written == project / ".azureml" / "config.json"
    assert json.loads(written.read_text()) == {
        "subscription_id": "0000-sub", "resource_group": "rg-samples",
        "workspace_name": "v1-samples",
    }  # fmt: skip
    again = Workspace.from_config()
    assert again.path == v1ws.path and again.resource_group == "rg-samples"
    got = Workspace.get(name="v1-samples", subscription_id="0000-sub", resource_group="rg-samples")
    assert got.path == v1ws.path


def test_the_v1_constructor_finds_the_workspace(v1ws: Workspace) -> None:
    """v1 notebooks write ``Workspace(subscription_id, resource_group, workspace_name)``."""
    ws = Workspace("0000-sub", "rg-samples", "v1-samples")
    assert ws.path == v1ws.path and ws.resource_group == "rg-samples"
    named = Workspace(
        subscription_id="0000-sub", resource_group="rg-samples", workspace_name="v1-samples"
    )
    assert named.path == v1ws.path and isinstance(named.models, ModelsView)
    assert Workspace(v1ws.path).name == "v1-samples"  # a folder, as before
    with pytest.raises(Exception, match="not found"):
        Workspace("0000-sub", "rg-samples", "another-name")


def test_from_config_with_only_a_v1_config_json_creates_the_workspace_beside_it(
    project: Path,
) -> None:
    (project / "config.json").write_text(
        json.dumps({"subscription_id": "s", "resource_group": "g", "workspace_name": "nb-ws"})
    )
    ws = Workspace.from_config()
    assert ws.name == "nb-ws" and ws.subscription_id == "s" and ws.resource_group == "g"
    assert ws.path == (project / ".serving").resolve()


def test_from_config_without_anything_raises_v1s_error(project: Path) -> None:
    with pytest.raises(UserErrorException, match=r"config\.json, could not be found"):
        Workspace.from_config()


def test_views_are_mappings_and_registries(v1ws: Workspace, small_tree: Path) -> None:
    assert isinstance(v1ws.models, ModelsView) and isinstance(v1ws.models, Mapping)
    # the internal registry calls still work on the same attribute
    record = v1ws.models.register(small_tree, "weights")
    assert v1ws.models.get(Ref("weights")).version == record.version == 1
    Model.register(v1ws, small_tree, "weights")
    # the v1 dictionary view: name -> latest Model
    assert list(v1ws.models) == ["weights"] and len(v1ws.models) == 1
    name, model = next(iter(v1ws.models.items()))
    assert name == "weights" and isinstance(model, Model) and model.version == 2
    assert v1ws.models["weights"].version == 2 and "weights" in v1ws.models
    assert v1ws.models.get("nothing") is None
    with pytest.raises(KeyError):
        v1ws.models["nothing"]

    assert isinstance(v1ws.environments, EnvironmentsView)
    assert "AzureML-Minimal" in v1ws.environments  # curated names are listed, as in v1
    assert all(env.name == key for key, env in v1ws.environments.items())
    assert v1ws.environments.list() == []  # the registry: nothing registered yet

    assert v1ws.webservices == {} and v1ws.compute_targets == {} and v1ws.datasets == {}


def test_authentication_objects_are_accepted_and_said_unused(v1ws: Workspace) -> None:
    from serving.sdk import InteractiveLoginAuthentication

    auth = InteractiveLoginAuthentication(tenant_id="t")
    with pytest.warns(UserWarning, match="auth is not used"):
        assert Workspace.from_config(auth=auth).path == v1ws.path
