"""Fixtures shared by every test folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.cli.main import main
from serving.errors import BackendUnavailableError
from serving.images import bootstrap_base, docker_client
from serving.workspace import Workspace
from tests.helpers import SKLEARN, CliResult, cli_env, serving_cmd

if TYPE_CHECKING:
    from docker import DockerClient


@pytest.fixture()
def ws_path(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture()
def ws(ws_path: Path) -> Workspace:
    return Workspace.open(ws_path, create=True)


@pytest.fixture()
def cli(
    ws_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run the CLI in-process against the test workspace."""
    monkeypatch.setenv("SERVING_WORKSPACE", str(ws_path))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture()
def proc_cli(ws_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the CLI as a real subprocess."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            serving_cmd(*args),
            env=cli_env(ws_path),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scikit-learn LogisticRegression trained on the bundled digits data set."""
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=2000).fit(x, y)
    path = tmp_path_factory.mktemp("digits") / "model.pkl"
    joblib.dump(model, path)
    return path


@pytest.fixture()
def small_tree(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "model_dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (folder / "sub" / "config.json").write_text('{"a": 1}')
    yield folder


@pytest.fixture(scope="session")
def envs_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv cache for the whole session: each environment is built once."""
    return tmp_path_factory.mktemp("envs")


@pytest.fixture()
def shared_envs(envs_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Deployments in this test build their venvs in the session's cache."""
    monkeypatch.setenv("SERVING_ENVS_DIR", str(envs_cache))
    return envs_cache


@pytest.fixture()
def runtime_only_env(tmp_path: Path) -> Path:
    """An environment with nothing beyond the serving runtime (for fixture scripts)."""
    path = tmp_path / "requirements.txt"
    path.write_text("# nothing beyond the serving runtime\n")
    return path


@pytest.fixture(scope="session")
def template_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits model made by the scikit-learn template's own train.py (once a session)."""
    out = tmp_path_factory.mktemp("template") / "model.pkl"
    subprocess.run(
        [
            sys.executable,
            str(SKLEARN / "train.py"),
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerClient]:
    """The Docker Engine; its absence fails the test (CI must run these for real)."""
    try:
        client = docker_client()
    except BackendUnavailableError as exc:
        pytest.fail(f"Docker tests need a running Docker Engine: {exc.one_line()}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(engine: DockerClient) -> str:
    """The bootstrapped Python 3.11 base (built on first use, kept afterwards)."""
    return bootstrap_base(engine, "3.11", progress=lambda _line: None).tag
