"""The SDK's Model and Environment and the CLI's images and endpoints commands give the
same answers against a workspace folder and a workspace server (``workspace_kind``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from serving.errors import ConflictError, NotFoundError
from serving.sdk import Environment, Model
from serving.sdk.conda_dependencies import CondaDependencies
from serving.workspace import Workspace
from tests.helpers import CliResult

Cli = Callable[..., CliResult]


def test_sdk_model_register_list_get_download_update_delete(
    ws: Any, digits_model: Path, small_tree: Path, tmp_path: Path
) -> None:
    model = Model.register(
        ws, model_path=str(digits_model), model_name="digits", tags={"k": "v"},
        properties={"acc": "0.9"}, model_framework=Model.Framework.SCIKITLEARN,
    )  # fmt: skip
    assert (model.name, model.version, model.model_framework) == ("digits", 1, "sklearn")
    Model.register(ws, model_path=str(small_tree), model_name="tree")
    assert Model(ws, "digits").version == 1 and Model(ws, id="tree:1").record.kind == "dir"
    assert [m.id for m in Model.list(ws, tags=[["k", "v"]])] == ["digits:1"]
    assert [m.id for m in Model.list(ws, tags=["k"])] == ["digits:1"]
    assert sorted(ws.models) == ["digits", "tree"]  # v1's {name: latest Model} view
    assert ws.models["tree"].version == 1 and ws.models.get("nope") is None
    path = Model(ws, "digits", version=1).download(tmp_path / "dl")
    assert Path(path).read_bytes() == digits_model.read_bytes()
    tree = Path(Model(ws, "tree").download(tmp_path / "dl"))
    assert (tree / "sub" / "config.json").read_text() == '{"a": 1}'
    with pytest.raises(ConflictError):
        Model(ws, "tree").download(tmp_path / "dl")
    model.add_tags({"stage": "prod"})
    model.remove_tags(["k"])
    model.add_properties({"loss": "0.1"})
    model.update(description="better")
    again = Model(ws, "digits")
    assert again.tags == {"stage": "prod"} and again.description == "better"
    assert again.properties == {"acc": "0.9", "loss": "0.1"}
    with pytest.raises(ConflictError, match="only be added"):
        again.add_properties({"acc": "0.1"})
    again.delete()
    with pytest.raises(NotFoundError):
        Model(ws, "digits")
    assert [m.id for m in Model.list(ws)] == ["tree:1"]


def test_sdk_environment_register_get_list(ws: Any, tmp_path: Path) -> None:
    env = Environment("digits-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["scikit-learn"])
    env.environment_variables = {"MODE": "fast"}
    first = env.register(ws)
    assert first.version == "1"
    assert env.register(ws).version == "1"  # same content: the latest version is kept
    env.environment_variables = {"MODE": "slow"}
    assert env.register(ws).version == "2"
    got = Environment.get(ws, "digits-env", version="1")
    assert got.environment_variables == {"MODE": "fast"}
    assert "scikit-learn" in " ".join(got.spec.requirements)
    listed = Environment.list(ws)
    assert listed["digits-env"].version == "2" and "AzureML-Minimal" in listed
    assert ws.environments["digits-env"].version == "2"
    with pytest.raises(NotFoundError):
        Environment.get(ws, "nope")


def _image_and_endpoint(backing: Workspace, small_tree: Path) -> None:
    """An image record and an endpoint record, made where the folder is (a server does
    not build or deploy)."""
    record = backing.models.register(small_tree, "tree")
    backing.images.record(
        "serving/tree", tag=None, image_id="sha256:" + "2" * 64, build_key="k", env_hash="1" * 64,
        python="3.11", flavour="slim", base_image="base", size_bytes=5_000_000,
        models=["tree:1"], entry_script="score.py", labels={"a": "b"}, extra={"note": "x"},
    )  # fmt: skip
    backing.endpoints.create("tree-svc", "local", {}, ["key-one", "key-two"], [record.id])
    (backing.endpoint_dir("tree-svc")).mkdir(parents=True, exist_ok=True)


def test_cli_images_and_endpoints_read_side(cli: Cli, backing: Workspace, small_tree: Path) -> None:
    _image_and_endpoint(backing, small_tree)
    images = cli("images", "list", "-o", "json").json()
    assert [i["id"] for i in images] == ["serving/tree:1"]  # type: ignore[index]
    shown = cli("images", "show", "serving/tree:1", "-o", "json").json()
    assert shown["models"] == ["tree:1"] and shown["labels"] == {"a": "b"}  # type: ignore[index]
    assert shown["note"] == "x"  # type: ignore[index]
    assert cli("images", "show", "serving/tree", "-o", "json").json()["version"] == 1  # type: ignore[index]
    assert "serving/tree:1" in cli("images", "list").out
    assert cli("images", "show", "serving/nope").code == 3
    listed = cli("endpoints", "list", "-o", "json").json()
    assert [(e["name"], e["models"]) for e in listed] == [("tree-svc", ["tree:1"])]  # type: ignore[index]
    assert "key-one" not in json.dumps(listed)
    shown = cli("endpoints", "show", "tree-svc", "-o", "json").json()
    assert shown["name"] == "tree-svc" and shown["auth_enabled"] is True  # type: ignore[index]
    assert "tree-svc" in cli("endpoints", "show", "tree-svc").out
    keys = cli("endpoints", "keys", "tree-svc", "-o", "json").json()
    assert keys == {"primary": "key-one", "secondary": "key-two"}
    assert "key-two" in cli("endpoints", "keys", "tree-svc").out
    assert cli("endpoints", "logs", "tree-svc", "--tail", "5").code == 0
    missing = cli("endpoints", "show", "nope")
    assert missing.code == 3 and len(missing.err.strip().splitlines()) == 1
    shown_model = cli("models", "show", "tree", "-o", "json").json()
    assert shown_model["endpoints"] == ["tree-svc"]  # type: ignore[index]
