"""How each target passes collection on to the server (pure parts): the recorded spec, the
container's mount and environment (docker, and cluster replicas through the recorded run),
the Kubernetes volume, and the local server's environment."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from serving.catalog import parse_env_file
from serving.config import ServerSettings
from serving.deploy.base import DeployRequest
from serving.deploy.cluster.pool import replica_kwargs
from serving.deploy.cluster.state import ClusterState, Limits, Member
from serving.deploy.containers import MODEL_DATA_MOUNT, RunSpec, run_kwargs
from serving.deploy.kubernetes.manifests import manifests
from serving.deploy.kubernetes.target import MODEL_DATA_CLAIM, kubernetes_spec
from serving.deploy.kubernetes.validate import validate_all
from serving.deploy.spec import DeploymentSpec
from serving.deploy.toolkit import CONTAINER_GID
from serving.errors import UserInputError
from serving.workspace import Workspace
from tests.helpers import SKLEARN


def _request(ws: Workspace, tmp_path: Path, store: Path | None) -> DeployRequest:
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(b"a record is enough")
    return DeployRequest(
        name="digits-svc",
        models=(ws.models.register(model_file, "digits"),),
        entry_script=SKLEARN / "score.py",
        source_dir=None,
        env=parse_env_file(SKLEARN / "env.yml"),
        deployment=DeploymentSpec(
            collect_model_data=store is not None,
            model_data_dir=None if store is None else str(store),
        ),
    )


def test_spec_records_the_folder_only_with_collection_on() -> None:
    on = DeploymentSpec(collect_model_data=True, model_data_dir="/data/ds")
    assert DeploymentSpec.from_dict(on.to_dict()) == on
    assert DeploymentSpec(model_data_dir="/data/ds").model_data_dir is None
    assert DeploymentSpec.from_dict({}).collect_model_data is False


def test_settings_carry_the_folder_and_a_changed_queue_only() -> None:
    settings = ServerSettings(model_data_dir=Path("/d"), model_data_queue=3)
    env = settings.to_env()
    assert env["SERVING_MODEL_DATA_DIR"] == "/d" and env["SERVING_MODEL_DATA_QUEUE"] == "3"
    assert ServerSettings.from_env(env).model_data_queue == 3
    assert "SERVING_MODEL_DATA_QUEUE" not in ServerSettings().to_env()
    assert "SERVING_MODEL_DATA_DIR" not in ServerSettings().to_env()


def test_container_mounts_its_endpoint_folder_read_write(ws: Workspace, tmp_path: Path) -> None:
    store = tmp_path / "store"
    spec = RunSpec.from_request(_request(ws, tmp_path, store), "img", 18000)
    assert RunSpec.from_dict(spec.to_dict()) == spec
    kwargs = run_kwargs(spec, "digits-svc", [], "/ws", keys_folder=tmp_path / "keys", auth=False)
    host = store / "modeldata" / "digits-svc"
    inside = f"{MODEL_DATA_MOUNT}/modeldata/digits-svc"
    assert kwargs["volumes"][str(host)] == {"bind": inside, "mode": "rw"}
    assert kwargs["environment"]["SERVING_MODEL_DATA_DIR"] == MODEL_DATA_MOUNT
    mode = host.stat()
    assert mode.st_mode & 0o7777 == 0o2770
    if os.geteuid() == 0:
        assert mode.st_gid == CONTAINER_GID
    else:
        assert kwargs["group_add"] == [str(os.getgid())]


def test_cluster_replicas_get_the_mount_from_the_recorded_run(
    ws: Workspace, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    run: dict[str, Any] = RunSpec.from_request(_request(ws, tmp_path, store), "img", 0).to_dict()
    state = ClusterState(
        endpoint="digits-svc", workspace="/ws", replicas=2, revision=1, image="img",
        image_tag="serving/digits-svc:1", port=18080, run=run, limits=Limits(2, 500, 9000),
        members={1: Member(1, "img")},
    )  # fmt: skip
    kwargs = replica_kwargs(state, 1, Member(1, "img"), tmp_path / "keys")
    assert str(store / "modeldata" / "digits-svc") in kwargs["volumes"]
    assert kwargs["environment"]["SERVING_MODEL_DATA_DIR"] == MODEL_DATA_MOUNT


def test_off_adds_no_mount_or_variable(ws: Workspace, tmp_path: Path) -> None:
    spec = RunSpec.from_request(_request(ws, tmp_path, None), "img", 18000)
    kwargs = run_kwargs(spec, "digits-svc", [], "/ws")
    assert "volumes" not in kwargs and "SERVING_MODEL_DATA_DIR" not in kwargs["environment"]


def test_kubernetes_pods_mount_the_claim(ws: Workspace, tmp_path: Path) -> None:
    request = _request(ws, tmp_path, tmp_path / "store")
    docs = manifests(kubernetes_spec(request, "img:1"))
    validate_all(docs)
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    claim = {"name": "model-data", "persistentVolumeClaim": {"claimName": MODEL_DATA_CLAIM}}
    assert claim in pod["volumes"] and pod["securityContext"]["fsGroup"] == 10001
    container = pod["containers"][0]
    assert {"name": "model-data", "mountPath": MODEL_DATA_MOUNT} in container["volumeMounts"]
    assert {"name": "SERVING_MODEL_DATA_DIR", "value": MODEL_DATA_MOUNT} in container["env"]
    plain = manifests(kubernetes_spec(replace(request, deployment=DeploymentSpec()), "img:1"))
    pod = next(d for d in plain if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert len(pod["volumes"]) == 1 and "fsGroup" not in pod["securityContext"]


def test_a_request_collecting_without_a_folder_is_refused(ws: Workspace, tmp_path: Path) -> None:
    from serving.deploy.inputs import new_request

    with pytest.raises(UserInputError, match="collect_model_data needs the folder"):
        new_request(
            ws, "svc", False, ["digits"], SKLEARN / "score.py", str(SKLEARN / "env.yml"),
            deployment=DeploymentSpec(collect_model_data=True),
        )  # fmt: skip


def test_sdk_and_cli_resolve_the_default_datastore(ws: Workspace, tmp_path: Path) -> None:
    from serving.runs.datastores import DatastoreStore, model_data_folder
    from serving.sdk.webservice import _with_model_data

    assert model_data_folder(ws) == str(ws.path / "datastores" / "workspaceblobstore")
    (tmp_path / "other").mkdir()
    DatastoreStore(ws.path, ws.db).register("other", tmp_path / "other")
    DatastoreStore(ws.path, ws.db).set_default("other")
    spec = _with_model_data(ws, DeploymentSpec(collect_model_data=True))
    assert spec.model_data_dir == str((tmp_path / "other").resolve())
    assert _with_model_data(ws, DeploymentSpec()).model_data_dir is None
