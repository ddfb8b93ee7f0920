"""``serving serve``: a local app folder like azmlinfsrv's, then the real server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from serving.cli.serve import is_models_tree, prepare_app, serve
from serving.errors import NotFoundError, ServingError, UserInputError


def _models_tree(root: Path) -> Path:
    (root / "m1" / "1").mkdir(parents=True)
    (root / "m1" / "1" / "w.bin").write_text("1")
    (root / "m1" / "2").mkdir()
    (root / "m1" / "2" / "w.bin").write_text("2")
    return root


def test_is_models_tree(tmp_path: Path) -> None:
    assert is_models_tree(_models_tree(tmp_path / "azureml-models"))
    plain = tmp_path / "outputs"
    plain.mkdir()
    (plain / "model.pkl").write_text("")
    assert not is_models_tree(plain)
    (tmp_path / "odd" / "m" / "latest").mkdir(parents=True)
    assert not is_models_tree(tmp_path / "odd")


def test_a_plain_folder_is_the_models_version_folder(tmp_path: Path, scripts_dir: Path) -> None:
    model_dir = tmp_path / "outputs"
    model_dir.mkdir()
    (model_dir / "model.pkl").write_text("weights")
    layout = prepare_app(tmp_path / "app", scripts_dir / "ok.py", model_dir, None, "my-model")
    version_dir = tmp_path / "app" / "azureml-models" / "my-model" / "1"
    assert layout.env["AZUREML_MODEL_DIR"] == str(version_dir)
    assert (version_dir / "model.pkl").read_text() == "weights"
    assert layout.env["AZUREML_ENTRY_SCRIPT"] == "ok.py"


def test_a_models_tree_is_used_as_is(tmp_path: Path, scripts_dir: Path) -> None:
    tree = _models_tree(tmp_path / "tree")
    layout = prepare_app(tmp_path / "app", scripts_dir / "ok.py", tree, None)
    root = tmp_path / "app" / "azureml-models"
    assert layout.env["AZUREML_MODEL_DIR"] == str(root)
    assert (root / "m1" / "2" / "w.bin").read_text() == "2"


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--model-dir", "{tmp}"], NotFoundError, "entry script"),
        (
            ["--entry-script", "{scripts}/ok.py", "--model-dir", "{tmp}/missing"],
            NotFoundError,
            "model directory",
        ),
        (
            ["--entry-script", "ok.py", "--source-dir", "{tmp}/nope", "--model-dir", "{tmp}"],
            NotFoundError,
            "source directory",
        ),
        (
            ["--entry-script", "{scripts}/ok.py", "--model-dir", "{tmp}", "--model-name", "a/b"],
            UserInputError,
            "cannot contain '/'",
        ),
    ],
)
def test_errors(
    tmp_path: Path,
    scripts_dir: Path,
    args: list[str],
    error: type[ServingError],
    message: str,
) -> None:
    filled = [a.format(tmp=tmp_path, scripts=scripts_dir) for a in args]
    if "--entry-script" not in filled:
        filled += ["--entry-script", str(tmp_path / "none.py")]
    with pytest.raises(error, match=message):
        serve.main(filled, standalone_mode=False)


@pytest.mark.slow
def test_serve_runs_the_real_server(tmp_path: Path, scripts_dir: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.txt").write_text("served")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from serving.cli.serve import serve; serve(prog_name='serving serve')",
                "--entry-script",
                str(scripts_dir / "model_path.py"),
                "--model-dir",
                str(model_dir),
                "--model-name",
                "echo-model",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(f"{url}/health/ready", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        result = requests.post(f"{url}/score", data="x", timeout=10).json()
        assert result["model_text"] == "served"
        assert result["path"].endswith("azureml-models/echo-model/1/model.txt")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0  # a clean exit on SIGTERM
    assert not list(tmp_path.glob("serving-serve-*"))  # the temporary app folder is gone
