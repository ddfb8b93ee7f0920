"""The scoring app in this process: settings for a fixture script, Flask test clients (also
on an Azure app folder with models), and undoing what loading entry scripts does to the
process. The conftests of tests/contract, tests/server and tests/fuzz re-export the fixtures."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from serving.config import ServerSettings
from serving.scoring import ModelFiles, Scorer, write_app_dir
from serving.server.app import create_app
from tests.helpers import FIXTURES

ClientFor = Callable[..., FlaskClient]


@pytest.fixture(autouse=True)
def _isolate_loaded_scripts() -> Iterator[None]:
    """Undo what loading entry scripts does to this process (sys.path, shim modules, alarm)."""
    path = list(sys.path)
    modules = set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name == "entry_module" or name.split(".")[0] in (
            "azureml",
            "azureml_inference_server_http",
        ):
            del sys.modules[name]
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def settings_for(script: str, app_root: Path = FIXTURES, **overrides: Any) -> ServerSettings:
    """Settings for a fixture script, with quiet defaults for tests."""
    base = ServerSettings(
        app_root=app_root,
        entry_script=script,
        workers=1,
        access_log=False,
        replica_id="test-replica",
    )
    return replace(base, **overrides)


def make_client(settings: ServerSettings, *, init: bool = True) -> FlaskClient:
    scorer = Scorer.from_settings(settings)
    if init:
        scorer.initialize()
    return create_app(settings, scorer).test_client()


@pytest.fixture()
def scripts_dir() -> Path:
    """The folder of one-behaviour entry scripts."""
    return FIXTURES


@pytest.fixture()
def client_for() -> ClientFor:
    """``client_for("ok.py", scoring_timeout_ms=500, init=True)``: a Flask test client."""

    def make(script: str, *, init: bool = True, **overrides: Any) -> FlaskClient:
        return make_client(settings_for(script, **overrides), init=init)

    return make


@pytest.fixture()
def app_client_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClientFor:
    """``app_client_for("model_path.py", models=[...])``: a Flask test client on an Azure app
    folder laid out as a server gets it (azureml-models, AML_APP_ROOT, AZUREML_MODEL_DIR)."""

    def make(script: str, *, models: Sequence[ModelFiles] = (), **overrides: Any) -> FlaskClient:
        layout = write_app_dir(tmp_path / "app", FIXTURES / script, None, models)
        for key, value in layout.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(Path(layout.app_root))  # gunicorn --chdir
        for name in [m for m in sys.modules if m.split(".")[0] == "azureml"]:
            del sys.modules[name]  # the shims read AML_APP_ROOT when imported
        settings = replace(ServerSettings.from_env(layout.env), replica_id="replica-1")
        return make_client(replace(settings, **overrides))

    return make
