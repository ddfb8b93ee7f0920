"""One real workspace server (gunicorn) per test module, over a workspace holding real
runs (one made by the local compute), models, an environment, an image record and an
endpoint record, with a read-write, a read-only and a revoked token."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.store import RunStore
from serving.sdk import Experiment, ScriptRunConfig
from serving.sdk import Workspace as SdkWorkspace
from serving.workspace import Workspace
from tests.hub.openapi_check import check
from tests.remote_fixtures import start_hub, stop_hub

PAGED_RUNS = 300
LONG_SERIES = 100_000

TRAIN = """
import os
from azureml.core.run import Run
run = Run.get_context()
for i in range(20):
    run.log("loss", 1.0 / (i + 1), step=i)
run.log("note", "hello")
run.log_row("rows", epoch=1, acc=0.5)
print("training done")
os.makedirs("outputs/model", exist_ok=True)
open("outputs/model/weights.bin", "wb").write(b"w" * 1000)
"""


@dataclass
class Server:
    """The running server and what the tests need to call it."""

    base: str
    ws: Workspace
    tokens: dict[str, str]
    runs: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return f"{self.base}/api/v1{path}"

    def call(
        self, method: str, path: str, token: str | None = "rw", **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        return requests.request(method, self.url(path), headers=headers, timeout=60, **kwargs)

    def checked(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text[:300])
        return check(response, self.base)


def _script_run(ws: Workspace, folder: Path) -> str:
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(TRAIN))
    sws = SdkWorkspace.get(path=ws.path)
    run = Experiment(sws, "trained").submit(ScriptRunConfig(str(folder), "train.py"))
    assert run.wait_for_completion()["status"] == "Completed"
    return str(run.id)


def _long_run(store: RunStore) -> str:
    record = store.create_run("long", kind=rec.INTERACTIVE, target="local")
    writer = m.MetricsWriter(store.metrics_file(record.id))
    for i in range(LONG_SERIES):
        value = 1000.0 if i == 77_777 else (-5.0 if i == 12_345 else float(i % 100))
        writer.add("curve", m.SCALAR, value, i)
    writer.add("curve", m.SCALAR, 42.5, LONG_SERIES)
    writer.flush()
    store.set_status(record.id, rec.COMPLETED)
    return record.id


def _records(ws: Workspace, tmp: Path) -> None:
    (tmp / "model.bin").write_bytes(b"model-bytes" * 100)
    folder = tmp / "folder_model"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b" * 3000)
    single = ws.models.register(tmp / "model.bin", "single", tags={"team": "x"})
    ws.models.register(folder, "folder")
    ws.environments.register(
        "env", spec={"requirements": ["numpy"]}, content_hash="1" * 64, python="3.11",
        source_text="numpy\n", source_name="requirements.txt",
    )  # fmt: skip
    ws.images.record(
        "digits", tag=None, image_id="sha256:" + "2" * 64, build_key="k", env_hash="1" * 64,
        python="3.11", flavour="slim", base_image="base", size_bytes=1, models=["single:1"],
        entry_script="score.py", labels={},
    )  # fmt: skip
    ws.endpoints.create("svc", "local", {}, ["key-one", "key-two"], [single.id])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("hub")
    ws = Workspace.open(tmp / "ws", create=True)
    store = RunStore(ws.path, ws.db)
    runs = {"trained": _script_run(ws, tmp / "src"), "long": _long_run(store)}
    for i in range(PAGED_RUNS):
        store.create_run("paged", kind=rec.INTERACTIVE, target="local", display_name=f"p{i}")
    _records(ws, tmp)
    hub = start_hub(ws, tmp / "server.log")
    try:
        yield Server(hub.base, ws, hub.tokens, runs, hub.process)
    finally:
        stop_hub(hub)
