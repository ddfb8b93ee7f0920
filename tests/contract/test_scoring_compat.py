"""The azureml shims: unchanged v1 imports work with no Azure package installed."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

from serving.scoring import install_compat_path


def _shim(name: str) -> ModuleType:
    install_compat_path()
    return importlib.import_module(name)


@pytest.fixture()
def models_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An app root with azureml-models; the model module re-read with AML_APP_ROOT set."""
    root = tmp_path / "azureml-models"
    for name, version, entry in [("m", 1, "v1.txt"), ("m", 3, "v3.txt"), ("m", 10, "v10.txt")]:
        folder = root / name / str(version)
        folder.mkdir(parents=True)
        (folder / entry).write_text(entry)
    (root / "two" / "1").mkdir(parents=True)
    (root / "two" / "1" / "a").write_text("")
    (root / "two" / "1" / "b").write_text("")
    monkeypatch.setenv("AML_APP_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    importlib.reload(_shim("azureml.core.model"))
    return root


def test_get_model_path_takes_the_largest_integer_version(models_root: Path) -> None:
    from azureml.core import Model

    assert Model.get_model_path("m") == str(models_root / "m" / "10" / "v10.txt")
    assert Model.get_model_path("m", version=3) == str(models_root / "m" / "3" / "v3.txt")
    assert Model.get_model_path(model_name="m", version=1, _workspace=None).endswith("v1.txt")


def test_get_model_path_needs_exactly_one_entry(models_root: Path) -> None:
    from azureml.core.model import Model
    from azureml.exceptions import WebserviceException

    with pytest.raises(WebserviceException, match="can contain only 1 file or folder"):
        Model.get_model_path("two")


def test_get_model_path_falls_back_to_the_working_directory(models_root: Path) -> None:
    from azureml.core.model import Model
    from azureml.exceptions import ModelNotFoundException

    (models_root.parent / "local-model").write_text("")
    assert Model.get_model_path("local-model") == "local-model"
    with pytest.raises(ModelNotFoundException, match="Model nothing not found in cache"):
        Model.get_model_path("nothing")
    with pytest.raises(ModelNotFoundException):
        Model.get_model_path("m", version=7)


def test_model_not_found_is_importable_from_both_places() -> None:
    model = _shim("azureml.core.model")
    exceptions = _shim("azureml.exceptions")
    assert issubclass(exceptions.ModelNotFoundException, exceptions.WebserviceException)
    assert model.ModelNotFoundException is exceptions.ModelNotFoundException


def test_offline_run_prints_instead_of_failing(capsys: pytest.CaptureFixture[str]) -> None:
    """Outside a submitted run (a deployment, plain python): v1's _OfflineRun prints."""
    run_module = _shim("azureml.core.run")
    run = run_module.Run.get_context()
    assert run.id.startswith("OfflineRun_")
    run.log("accuracy", 0.9, step=1)
    run.log_list("values", [1, 2])
    run.log_row("table", x=1)
    run.tag("stage", "test")
    run.complete()
    assert run.get_tags() == {"stage": "test"}
    out = capsys.readouterr().out
    assert "Attempted to log scalar metric accuracy:\n0.9" in out
    assert "Attempted to log list metric values:\n[1, 2]" in out
    for missing in ("experiment", "get_metrics", "register_model"):
        assert not hasattr(run, missing)


def test_model_data_collector(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monitoring = _shim("azureml.monitoring")
    quiet = monitoring.ModelDataCollector("model", designation="inputs", feature_names=["a"])
    assert quiet.collect([[1]], user_correlation_id="cid") == "cid"
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("AML_MODEL_DC_DEBUG", "true")
    loud = monitoring.ModelDataCollector("model", designation="predictions")
    correlation = loud.collect([[2]])
    assert len(correlation) == 36
    assert "ModelDataCollector model/predictions" in capsys.readouterr().out


def test_aml_response_json_and_raw() -> None:
    response_module = _shim("azureml.contrib.services.aml_response")
    AMLResponse = response_module.AMLResponse

    as_json = AMLResponse({"a": 1}, 200, json_str=True)
    assert as_json.mimetype == "application/json"
    assert json.loads(as_json.get_data()) == {"a": 1}
    assert as_json.headers["x-ms-run-function-failed"] == "False"

    raw = AMLResponse("hi", 201, {"X-Multi": "a, b", "Content-Type": "text/plain"})
    assert raw.get_data() == b"hi"
    assert raw.headers.getlist("X-Multi") == ["a", "b"]
    assert raw.headers.getlist("Content-Type") == ["text/plain"]

    assert AMLResponse(None, 200).get_data() == b"{}"
    assert AMLResponse("x", 503).headers["x-ms-run-function-failed"] == "True"
    assert (
        AMLResponse("x", 400, run_function_failed=True).headers["x-ms-run-function-failed"]
        == "True"
    )
    streamed = AMLResponse((c for c in ["a", "b"]), 200)
    assert streamed.is_streamed


def test_rawhttp_flag_and_request_alias() -> None:
    import flask

    request_module = _shim("azureml.contrib.services.aml_request")
    request_module.reset_raw_http()
    assert not request_module.raw_http_requested()

    def run(request: object) -> object:
        return request

    assert request_module.rawhttp(run) is run
    assert request_module.raw_http_requested()
    assert request_module.AMLRequest is flask.Request
    request_module.reset_raw_http()


def test_azmlinfsrv_style_imports_share_the_same_objects() -> None:
    new_style = _shim("azureml_inference_server_http.api.aml_request")
    old_style = _shim("azureml.contrib.services.aml_request")
    assert new_style.rawhttp is old_style.rawhttp
    response = _shim("azureml_inference_server_http.api.aml_response")
    assert response.AMLResponse is _shim("azureml.contrib.services.aml_response").AMLResponse


def test_shims_work_with_the_runtime_part_alone(tmp_path: Path) -> None:
    """A deployment image carries only the serving runtime (no sdk, no runs): the shims
    still import, and Run.get_context() is the offline run."""
    import shutil
    import subprocess
    import sys

    import serving

    package = Path(serving.__file__).parent
    runtime = tmp_path / "serving"
    runtime.mkdir()
    for name in ("__init__.py", "config.py", "errors.py"):
        shutil.copy2(package / name, runtime / name)
    for name in ("scoring", "server"):
        shutil.copytree(package / name, runtime / name)
    program = (
        "import serving, azureml.core as core, azureml.exceptions as e\n"
        "from azureml.core.model import Model\n"
        "run = core.Run.get_context(); run.log('a', 1)\n"
        "assert not hasattr(serving, 'sdk') and e.UserErrorException and Model\n"
        "print('runtime only:', serving.__file__)\n"
    )
    compat = runtime / "scoring" / "compat"
    env = {"PYTHONPATH": f"{compat}:{tmp_path}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-S", "-c", program],  # -S: no site, so no editable-install finder
        env=env,
        cwd=tmp_path,  # not the checkout: -c puts the cwd first on sys.path
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"runtime only: {runtime}" in out and "Attempted to log scalar metric a" in out
