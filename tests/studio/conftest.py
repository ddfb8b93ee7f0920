"""One workspace for the studio's browser tests, made of real things: a script run with
metrics and outputs and a model registered from it, a HyperDrive sweep (two children, local
compute), a pipeline submitted twice (its second run reuses both steps), an endpoint really
deployed on the local target (a tiny inference-schema script, so its swagger document has
an example), a load-test report, an active run to cancel; a real gunicorn server over it;
and headless Debian Chromium driven by selenium.

Without Chromium the browser tests skip, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.store import RunStore
from serving.sdk import Experiment, ScriptRunConfig
from serving.sdk import Workspace as SdkWorkspace
from serving.sdk.hyperdrive import (
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    choice,
)
from serving.sdk.pipeline import Pipeline, PipelineData, PythonScriptStep
from serving.workspace import Workspace
from tests.helpers import run_cli
from tests.remote_fixtures import start_hub, stop_hub

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HERE = Path(__file__).parent

TRAIN = """
import argparse, os, pickle
from azureml.core.run import Run
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--curve", default="good")
args = p.parse_args()
run = Run.get_context()
run.tag("team", "vision")
curve = {"good": [0.5, 0.7, 0.9], "ok": [0.4, 0.5, 0.6]}.get(args.curve, [0.1])
for i, acc in enumerate(curve):
    run.log("accuracy", acc)
    run.log("loss", 1.0 - acc + args.lr)
run.log("note", "trained well")
print("epoch done: accuracy", curve[-1])
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pkl", "wb") as fh:
    pickle.dump({"lr": args.lr}, fh)
"""

STEP = """
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--out")
p.add_argument("--inp")
a = p.parse_args()
value = int(open(os.path.join(a.inp, "v.txt")).read()) + 1 if a.inp else 1
if a.out:
    os.makedirs(a.out, exist_ok=True)
    open(os.path.join(a.out, "v.txt"), "w").write(str(value))
print("step wrote", value)
"""


@dataclass
class Studio:
    """The server and what the tests look for."""

    base: str
    ws: Workspace
    tokens: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}/studio{path}"


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def _script_run(sws: SdkWorkspace, tmp: Path) -> tuple[str, str]:
    src = _write(tmp / "train", "train.py", TRAIN)
    config = ScriptRunConfig(str(src), "train.py", arguments=["--lr", "0.05"])
    run = Experiment(sws, "digits").submit(config)
    assert run.wait_for_completion()["status"] == "Completed"
    model = run.register_model("digits-model", "outputs/model.pkl", tags={"stage": "test"})
    return str(run.id), f"{model.name}:{model.version}"


def _tuning_runs(store: RunStore) -> list[str]:
    """Runs logged from a notebook (interactive): a fuller runs table."""
    made = []
    for i, (acc, lr) in enumerate([(0.62, 0.3), (0.71, 0.2), (0.84, 0.1), (0.78, 0.15)]):
        record = store.create_run(
            "digits", kind=rec.INTERACTIVE, target="local", display_name=f"notebook-{i}"
        )
        store.set_status(record.id, rec.RUNNING)
        writer = m.MetricsWriter(store.metrics_file(record.id))
        for step in range(20):
            writer.add("accuracy", m.SCALAR, acc * (1 - 0.5 ** (step + 1)), step)
            writer.add("loss", m.SCALAR, (1 - acc) + lr * 0.5**step, step)
        writer.flush()
        store.update_json(record.id, "tags", {"lr": str(lr)})
        time.sleep(0.05 * (i + 1))
        store.set_status(record.id, rec.COMPLETED)
        made.append(record.id)
    return made


def _sweep(sws: SdkWorkspace, tmp: Path) -> str:
    src = _write(tmp / "sweep", "train.py", TRAIN)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src), "train.py"),
        hyperparameter_sampling=GridParameterSampling({"--curve": choice("good", "ok")}),
        primary_metric_name="accuracy",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=2,
        max_concurrent_runs=2,
    )
    run = Experiment(sws, "sweeps").submit(config)
    run.wait_for_completion(show_output=False, raise_on_error=False)
    return str(run.id)


def _pipeline(sws: SdkWorkspace, tmp: Path) -> str:
    data = PipelineData("prepared")
    prepare = PythonScriptStep(
        "step.py", name="prepare", arguments=["--out", data], outputs=[data],
        source_directory=_write(tmp / "steps" / "prepare", "step.py", STEP),
    )  # fmt: skip
    train = PythonScriptStep(
        "step.py", name="train", arguments=["--inp", data], inputs=[data],
        source_directory=_write(tmp / "steps" / "train", "step.py", STEP),
    )  # fmt: skip
    pipeline = Pipeline(sws, [prepare, train])
    last = ""
    for _ in range(2):  # the second run reuses both steps
        run = Experiment(sws, "pipes").submit(pipeline)
        assert run.wait_for_completion(show_output=False) == rec.COMPLETED
        last = str(run.id)
    return last


def _deploy(ws: Workspace, tmp: Path) -> None:
    """A local endpoint with a key; its venv is built in this module's own folder."""
    (tmp / "model.bin").write_bytes(b"weights")
    (tmp / "requirements.txt").write_text("# nothing beyond the serving runtime\n")
    env = {"SERVING_ENVS_DIR": str(tmp / "envs")}
    assert run_cli(ws.path, "models", "register", tmp / "model.bin", "--name", "tiny").code == 0
    deployed = run_cli(
        ws.path, "deploy", "tiny-svc", "--model", "tiny:1", "--entry-script",
        HERE / "score_sum.py", "--env", tmp / "requirements.txt", "--target", "local", "--auth",
        env=env, timeout=300,
    )  # fmt: skip
    assert deployed.code == 0, deployed.err
    report = ws.path / "loadtest-reports" / "tiny-svc-1"
    loaded = run_cli(
        ws.path, "loadtest", "tiny-svc", "--users", "2", "--spawn-rate", "2", "--duration",
        "2s", "--report", report, timeout=120,
    )  # fmt: skip
    assert loaded.code == 0, loaded.err


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    tmp = tmp_path_factory.mktemp("studio")
    ws = Workspace.open(tmp / "ws", create=True)
    sws = SdkWorkspace.get(path=ws.path)
    ids: dict[str, str] = {}
    ids["run"], ids["model"] = _script_run(sws, tmp)
    ids["sweep"] = _sweep(sws, tmp)
    ids["pipeline"] = _pipeline(sws, tmp)
    store = RunStore(ws.path, ws.db)
    ids["tuning"] = ",".join(_tuning_runs(store))
    active = store.create_run("digits", kind=rec.INTERACTIVE, target="local", display_name="live")
    store.set_status(active.id, rec.RUNNING)
    ids["active"] = active.id
    _deploy(ws, tmp)
    try:
        hub = start_hub(ws, tmp / "server.log")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {(tmp / 'server.log').read_text()[-2000:]}") from None
    try:
        yield Studio(hub.base, ws, hub.tokens, ids)
    finally:
        stop_hub(hub)
        run_cli(ws.path, "endpoints", "delete", "tiny-svc", timeout=60)


def browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists() or shutil.which(str(path)) is None:
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium through its own chromedriver (never a downloaded browser:
    both paths are given, so selenium-manager has nothing to look for)."""
    missing = browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the studio's browser tests must run under CI: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--disable-extensions"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
