"""The rest of the v1 run API: snapshots, data references, files, images, lookups,
recorded offline runs, live logs. Real runs with the user-managed interpreter.

Tests of the SDK's surface run twice (``any_ws``, conftest): on a workspace folder, and on
a real workspace server over a fresh folder, where runs are submitted through the API and
execute on the server's machine. Data references and recorded offline runs are
folder-only (``sws``): datastores and offline runs have no API yet."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from serving.runs.errors import UserErrorException
from serving.runs.snapshot import take_snapshot
from serving.sdk import Datastore, Experiment, ScriptRunConfig, Workspace
from serving.sdk.run import Run

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def sws(tmp_path: Path) -> Workspace:
    """A workspace folder (the tests that only a folder can run)."""
    return Workspace.create(path=tmp_path / "proj")


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_snapshot_ignore_files_and_content_id(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "train.py", "print(1)\n")
    write(src, "data/big.bin", "x")
    write(src, "notes.txt", "n")
    write(src, ".gitignore", "notes.txt\n")
    first = take_snapshot(src, tmp_path / "s1")
    assert not (tmp_path / "s1/notes.txt").exists() and (tmp_path / "s1/data/big.bin").exists()
    write(src, ".amlignore", "data/\n")  # .amlignore wins over .gitignore
    second = take_snapshot(src, tmp_path / "s2")
    assert (tmp_path / "s2/notes.txt").exists() and not (tmp_path / "s2/data").exists()
    assert second.ignore_file == ".amlignore" and first.ignore_file == ".gitignore"
    again = take_snapshot(src, tmp_path / "s3")
    assert again.snapshot_id == second.snapshot_id != first.snapshot_id
    for i in range(2001):
        write(src, f"many/{i}.txt", "")
    assert "2000 files" in take_snapshot(src, tmp_path / "s4").warnings[0]


def test_data_references_mount_and_download(sws: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "digits"
    write(data, "part/a.csv", "1,2\n")
    ds = Datastore.get_default(sws)
    ds.upload(str(data), target_path="digits", show_progress=False)
    write(
        tmp_path / "src",
        "train.py",
        """
        import os, sys
        mounted, copied = sys.argv[2], sys.argv[4]
        print("MOUNT", open(os.path.join(mounted, "digits/part/a.csv")).read().strip())
        print("COPY", open(os.path.join(copied, "part/a.csv")).read().strip())
        print("ENV", os.environ["AZUREML_DATAREFERENCE_workspaceblobstore"] == mounted)
        """,
    )
    config = ScriptRunConfig(
        str(tmp_path / "src"),
        "train.py",
        arguments=["--data", ds.as_mount(), "--copy", ds.path("digits").as_download()],
    )
    run = Experiment(sws, "data").submit(config)
    run.wait_for_completion()
    log = (sws.runs.run_dir(run.id) / "user_logs/std_log.txt").read_text()
    assert "MOUNT 1,2" in log and "COPY 1,2" in log and "ENV True" in log
    arguments = run.get_details()["runDefinition"]["arguments"]
    assert arguments[1] == "$AZUREML_DATAREFERENCE_workspaceblobstore"


def test_files_images_and_lookups(any_ws: Any, tmp_path: Path) -> None:
    sws = any_ws
    write(
        tmp_path / "src",
        "train.py",
        """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from azureml.core import Run
        run = Run.get_context()
        plt.plot([1, 2, 3])
        run.log_image("curve", plot=plt)
        run.log_image("curve", plot=plt)  # within the same second: a file of its own
        import os, shutil, tempfile
        os.makedirs("plots")
        plt.savefig("plots/a.png")
        run.log_image("a", path="./plots/a.png")
        outside = os.path.join(tempfile.mkdtemp(), "b.png")
        plt.savefig(outside)
        run.log_image("b", path=outside)
        shutil.rmtree(os.path.dirname(outside))
        open("note.txt", "w").write("hello")
        try:
            run.log_image("bad", path="note.txt")
        except Exception as exc:
            print("refused:", exc)
        run.upload_file("extra/note.txt", "note.txt")
        cm = {"schema_type": "confusion_matrix", "data": {"matrix": [[1]]}}
        run.log_confusion_matrix("cm", cm)
        """,
    )
    exp = Experiment(sws, "files")
    run = exp.submit(ScriptRunConfig(str(tmp_path / "src"), "train.py"), tags={"team": "a"})
    run.wait_for_completion()
    names = run.get_file_names()
    assert "extra/note.txt" in names
    curves = [n for n in names if n.startswith("curve_") and n.endswith(".png")]
    assert len(curves) == 2 and "plots/a.png" in names and "b.png" in names
    run.download_file(curves[0], tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    metrics = run.get_metrics()
    assert sorted(c.rsplit("/", 1)[1] for c in metrics["curve"]) == sorted(curves)
    assert metrics["a"].endswith("plots/a.png") and metrics["b"].endswith("/b.png")
    run.download_file("user_logs/std_log.txt", tmp_path / "log.txt")
    assert "refused: note.txt is not an image file" in (tmp_path / "log.txt").read_text()
    assert run.get_metrics(populate=True)["cm"]["data"]["matrix"] == [[1]]
    run.download_file("extra/note.txt", tmp_path / "got.txt")
    assert (tmp_path / "got.txt").read_text() == "hello"
    got = run.download_files(prefix="extra", output_directory=tmp_path / "all")
    assert got == [str(tmp_path / "all/extra/note.txt")]
    assert run.get_tags()["team"] == "a"
    assert sws.get_run(run.id).id == run.id
    assert Run(exp, run.id).get_status() == "Completed"
    assert [r.id for r in exp.get_runs(tags={"team": "a"})] == [run.id]
    assert [e.name for e in Experiment.list(sws)] == ["files"]
    assert run.get_snapshot_id()
    if isinstance(run, Run):  # a server's snapshot has no download route yet
        assert Path(run.restore_snapshot(path=tmp_path)).is_file()


def test_logs_are_live_and_outputs_collected_at_the_end(any_ws: Any, tmp_path: Path) -> None:
    sws = any_ws
    write(
        tmp_path / "src",
        "train.py",
        """
        import os, time
        os.makedirs("logs", exist_ok=True)
        with open("logs/progress.txt", "w") as f:
            f.write("epoch 1"); f.flush()
            open("outputs/model.pkl", "w").write("m")
            time.sleep(60)
        """,
    )
    run = Experiment(sws, "live").submit(ScriptRunConfig(str(tmp_path / "src"), "train.py"))
    progress = tmp_path / "progress.txt"
    deadline = time.monotonic() + 30
    while not progress.is_file() or not progress.read_text():
        assert time.monotonic() < deadline
        if "logs/progress.txt" in run.get_file_names():
            run.download_file("logs/progress.txt", progress)
        time.sleep(0.1)
    assert progress.read_text() == "epoch 1"
    assert "outputs/model.pkl" not in run.get_file_names()  # collected when the run ends
    run.cancel()
    assert run.get_status() == "Canceled"
    assert "outputs/model.pkl" in run.get_file_names()


def test_recorded_offline_run(sws: Workspace, tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "train.py",
        "from azureml.core import Run\nrun = Run.get_context()\nrun.log('acc', 0.75)\n",
    )
    from serving.runs.supervisor import COMPAT_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZUREML_", "SERVING_"))}
    env.update(
        PYTHONPATH=str(COMPAT_DIR),
        SERVING_OFFLINE_EXPERIMENT="offline",
        SERVING_WORKSPACE=str(sws.path),
    )
    subprocess.run([sys.executable, str(script)], env=env, check=True, cwd=tmp_path)
    (run,) = Experiment(sws, "offline").get_runs()
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"acc": 0.75}


def test_a_script_registers_a_model_itself(any_ws: Any, tmp_path: Path) -> None:
    """v1 scripts and pipeline steps call Model.register with the run's workspace."""
    sws = any_ws
    write(
        tmp_path / "src",
        "train.py",
        """
        from azureml.core import Run
        from azureml.core.model import Model
        run = Run.get_context()
        open("outputs/m.txt", "w").write("m")
        ws = run.experiment.workspace
        model = Model.register(workspace=ws, model_path="outputs/m.txt", model_name="self-reg")
        print("registered", model.name, model.version)
        run.register_model("from-run", "user_logs/std_log.txt")
        """,
    )
    run = Experiment(sws, "selfreg").submit(ScriptRunConfig(str(tmp_path / "src"), "train.py"))
    run.wait_for_completion()
    run.download_file("user_logs/std_log.txt", tmp_path / "log.txt")
    assert "registered self-reg 1" in (tmp_path / "log.txt").read_text()
    assert sws.models.list(run_id=run.id)[0].name == "from-run"


def test_logs_outputs_and_model_of_a_finished_run(any_ws: Any, tmp_path: Path) -> None:
    """On a folder and on a server: the run's logs copied out, a file asked for by a
    ``./`` name or one it does not have, and the model registered from its outputs."""
    write(
        tmp_path / "src",
        "train.py",
        """
        print("training")
        open("outputs/model.pkl", "wb").write(b"weights")
        """,
    )
    run = Experiment(any_ws, "outputs").submit(ScriptRunConfig(str(tmp_path / "src"), "train.py"))
    run.wait_for_completion()
    logs = run.get_all_logs(destination=tmp_path / "logs")
    assert any(Path(p).read_text().count("training") == 1 for p in logs)
    run.download_file("./outputs/model.pkl", tmp_path / "model.pkl")
    assert (tmp_path / "model.pkl").read_bytes() == b"weights"
    with pytest.raises(UserErrorException, match=r"has no file outputs/nothing\.pkl"):
        run.download_file("outputs/nothing.pkl", tmp_path / "nothing.pkl")
    assert not (tmp_path / "nothing.pkl").exists()
    model = run.register_model("from-run", "outputs/model.pkl")
    assert (model.name, model.version, model.run_id) == ("from-run", 1, run.id)
