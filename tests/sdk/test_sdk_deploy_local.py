"""v1 deployment notebooks on the local target (real venvs and gunicorn processes): the
deploy-to-local flow (register, deploy, run, reload, update, logs, delete), two models in
one deployment with an Environment from CondaDependencies, Model.profile."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from serving.sdk import (
    Dataset,
    InferenceConfig,
    LocalWebservice,
    Model,
    ModelProfile,
    Webservice,
    WebserviceException,
    Workspace,
)
from tests.helpers import SAMPLE
from tests.sdk.v1helpers import SCORE, digits_env

pytestmark = pytest.mark.slow

TWO_MODELS = """
import json, joblib
from azureml.core.model import Model

def init():
    global first, second
    first = joblib.load(Model.get_model_path("digits"))
    second = joblib.load(Model.get_model_path("digits-copy", version=1))

def run(raw_data):
    data = json.loads(raw_data)["data"]
    return {"first": first.predict(data).tolist(), "second": second.predict(data).tolist()}
"""


def _source(project: Path) -> Path:
    src = project / "source"
    src.mkdir()
    shutil.copy(SCORE, src / "score.py")
    return src


def test_deploy_to_local_notebook(v1ws: Workspace, project: Path, template_model: Path) -> None:
    model = Model.register(v1ws, model_path=str(template_model), model_name="digits")
    src = _source(project)
    inference_config = InferenceConfig(
        entry_script="score.py", source_directory=str(src), environment=digits_env()
    )
    try:  # Microsoft's idiom: remove a previous service of that name  # noqa: SIM105
        Webservice(v1ws, "local-digits").delete()
    except WebserviceException:
        pass
    deployment_config = LocalWebservice.deploy_configuration()
    service = Model.deploy(v1ws, "local-digits", [model], inference_config, deployment_config)
    service.wait_for_deployment(show_output=True)
    assert service.state == "Healthy" and isinstance(service.port, int)
    assert service.scoring_uri and service.swagger_uri and service.compute_type == "Local"
    assert service.run(input_data=SAMPLE.read_text()) == [0]

    text = (src / "score.py").read_text()  # edit the script, then reload (no rebuild)
    new_return = "return {'digits': model.predict(data).tolist()}"
    (src / "score.py").write_text(text.replace("return model.predict(data).tolist()", new_return))
    service.reload()
    assert service.run(SAMPLE.read_text()) == {"digits": [0]}

    second = Model.register(v1ws, model_path=str(template_model), model_name="digits")
    service.update(models=[second])
    assert Webservice(v1ws, "local-digits").models == ["digits:2"]
    with pytest.warns(UserWarning, match="only the replica count"):
        service.update(deployment_config=LocalWebservice.deploy_configuration())
    with pytest.warns(UserWarning, match="Webservice.update: tags cannot be changed"):
        service.update(tags={"a": "b"})
    assert "loaded" in service.get_logs()
    assert list(v1ws.webservices) == ["local-digits"]
    assert [s.name for s in Webservice.list(v1ws, compute_type="Local")] == ["local-digits"]
    assert Webservice.list(v1ws, model_name="other") == []
    service.delete()
    with pytest.raises(WebserviceException, match="not found"):
        Webservice(v1ws, "local-digits")

    new = Model.deploy(v1ws, "local-digits", [model], inference_config, overwrite=True)
    assert new.run(SAMPLE.read_text()) == {"digits": [0]}
    new2 = Model.deploy(v1ws, "local-digits", [model], inference_config, overwrite=True)
    assert new2.state == "Healthy"
    new2.delete()


def test_two_models_with_an_environment_from_condadependencies(
    v1ws: Workspace, project: Path, template_model: Path
) -> None:
    first = Model.register(v1ws, str(template_model), "digits")
    second = Model.register(v1ws, str(template_model), "digits-copy")
    (project / "score.py").write_text(TWO_MODELS)
    env = digits_env("two-models-env").register(v1ws)
    config = InferenceConfig(entry_script="score.py", environment=env)
    service = Model.deploy(v1ws, "two-models", [first, second], config)
    try:
        service.wait_for_deployment()
        answer = service.run(SAMPLE.read_text())
        assert answer == {"first": [0], "second": [0]}
    finally:
        service.delete()


def test_no_code_deploy_says_what_is_missing(v1ws: Workspace, template_model: Path) -> None:
    from serving.errors import UserInputError

    model = Model.register(v1ws, str(template_model), "digits", model_framework="Custom")
    with pytest.raises(UserInputError, match="no-code deployment"):
        Model.deploy(v1ws, "nocode", [model])


def test_model_profile_recommends_cpu_and_memory(
    v1ws: Workspace, project: Path, template_model: Path
) -> None:
    model = Model.register(v1ws, str(template_model), "digits")
    with open(project / "profile.csv", "w", newline="") as handle:  # one request a row
        csv.writer(handle).writerows([["input"], *[[SAMPLE.read_text().strip()]] * 3])
    datastore = v1ws.get_default_datastore()
    datastore.upload_files([str(project / "profile.csv")], target_path="profile",
                           show_progress=False)  # fmt: skip
    samples = Dataset.Tabular.from_delimited_files(path=[(datastore, "profile/profile.csv")])
    samples = samples.register(v1ws, "digits-samples", create_new_version=True)
    config = InferenceConfig(entry_script=str(SCORE), environment=digits_env())
    profile = Model.profile(v1ws, "digits-profile", [model], config, input_dataset=samples,
                            duration_s=3, users=1)  # fmt: skip
    profile.wait_for_completion(True)
    assert isinstance(profile, ModelProfile)
    details = profile.get_details()
    assert details["totalQueries"] > 0 and details["successRate"] == 1.0
    assert details["recommendedCpu"] >= 0.1 and details["recommendedMemoryInGB"] >= 0.5
    assert details["maxUtilizedMemoryInGB"] > 0 and details["latencyPercentile50InMs"] > 0
    assert Webservice.list(v1ws) == []  # the profiling deployment is gone
