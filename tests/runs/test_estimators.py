"""v1's deprecated estimators: keyword-only arguments, the deprecation warning,
``script_params`` flattening, data references, the environment built from package
arguments (framework added, version and GPU warnings), the azureml.train shims, and one
user-managed submit (no virtual environment built)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from serving.runs import records as rec
from serving.runs.errors import UserErrorException
from serving.scoring.compat import COMPAT_DIR
from serving.sdk import Environment, Experiment, ScriptRunConfig, Workspace
from serving.sdk.compute import GpuUnavailableWarning
from serving.sdk.estimator import (
    Estimator,
    FrameworkVersionWarning,
    IgnoredEstimatorArgumentWarning,
    SKLearn,
    TensorFlow,
    flatten_script_params,
)
from tests.helpers import ROOT

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def sws(tmp_path: Path) -> Workspace:
    return Workspace.create(path=tmp_path / "proj")


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train.py").write_text("print('hi')\n")
    return folder


def build(cls: type[Estimator], source: Path, **kwargs: object) -> tuple[Estimator, list[str]]:
    """The estimator and the warnings it gave (category: message), deprecation included."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = cls(str(source), entry_script="train.py", **kwargs)  # type: ignore[arg-type]
    return est, [f"{w.category.__name__}: {w.message}" for w in caught]


def test_deprecated_and_keyword_only(source: Path) -> None:
    with pytest.warns(FutureWarning, match=r"'Estimator' is deprecated\. Please use 'ScriptRunC"):
        Estimator(str(source), entry_script="train.py")
    with pytest.raises(TypeError):
        Estimator(str(source), None, None, None, "train.py")  # type: ignore[misc]
    _, notes = build(SKLearn, source)
    assert notes[0].startswith("FutureWarning: 'SKLearn' is deprecated")


def test_script_params_flatten_as_v1() -> None:
    params = {"--a": 1, "--list": [1, 2.5], "--flag": "", "--none": None, "--s": "x y", "": 3}
    assert flatten_script_params(params) == ["--a", 1, "--list", 1, 2.5, "--flag", "--none",
                                             "--s", "x y", 3]  # fmt: skip
    assert flatten_script_params({"--t": (None, "", "v")}) == ["--t", "v"]
    assert flatten_script_params(None) == []


def test_data_references_become_placeholders_and_are_registered(
    sws: Workspace, source: Path
) -> None:
    ds = sws.get_default_datastore()
    sub = ds.path("digits", data_reference_name="digits")
    est, _ = build(
        Estimator,
        source,
        script_params={"--data-folder": ds.as_mount(), "--n": 5, "--sub": sub, "--ds": ds},
        inputs=[ds.path("extra", data_reference_name="extra").as_download()],
        environment_variables={"K": 1},
        user_managed=True,
    )
    job = est.to_script_run_config().to_job()  # type: ignore[attr-defined]
    root = "$AZUREML_DATAREFERENCE_workspaceblobstore"
    assert job.arguments == [
        "--data-folder", root, "--n", "5", "--sub", "$AZUREML_DATAREFERENCE_digits", "--ds", root,
    ]  # fmt: skip
    assert set(job.data_references) == {"workspaceblobstore", "digits", "extra"}
    assert job.data_references["digits"]["path_on_datastore"] == "digits"
    assert job.data_references["extra"]["mode"] == "download"
    assert job.environment_variables == {"K": "1"}


def test_sklearn_environment_from_packages(source: Path) -> None:
    (source / "requirements.txt").write_text("requests\n")
    est, notes = build(
        SKLearn,
        source,
        conda_packages=["numpy>=1.20"],
        pip_packages=["pandas"],
        pip_requirements_file="requirements.txt",
    )
    spec = est.environment.spec
    assert spec.requirements == ("joblib", "numpy>=1.20", "pandas", "requests", "scikit-learn")
    assert any(n.startswith("FrameworkVersionWarning") and "0.20.3" in n for n in notes)
    assert not est.environment.python.user_managed_dependencies


@pytest.mark.parametrize(
    ("version", "line", "warned"),
    [("0.20.3", "scikit-learn==0.20.3", True), ("1.5", "scikit-learn==1.5.*", False)],
)
def test_sklearn_explicit_version(source: Path, version: str, line: str, warned: bool) -> None:
    est, notes = build(SKLearn, source, framework_version=version)
    assert line in est.environment.spec.requirements
    assert any("may not install" in n for n in notes) == warned


def test_framework_in_the_conda_file_is_kept(source: Path) -> None:
    (source / "env.yml").write_text(
        "dependencies:\n  - python=3.11\n  - scikit-learn=1.5\n  - pip:\n    - tensorflow==2.21.*\n"
    )
    sk, sk_notes = build(SKLearn, source, conda_dependencies_file="env.yml")
    assert "scikit-learn==1.5.*" in sk.environment.spec.requirements
    assert not any("FrameworkVersion" in n for n in sk_notes)
    tf, tf_notes = build(TensorFlow, source, conda_dependencies_file=str(source / "env.yml"))
    assert not any(r.startswith("tensorflow-cpu") for r in tf.environment.spec.requirements)
    assert not any("FrameworkVersion" in n for n in tf_notes)


def test_tensorflow_gpu_and_distribution_are_warned(source: Path) -> None:
    tf, notes = build(TensorFlow, source, use_gpu=True, worker_count=2, node_count=2)
    assert "tensorflow-cpu" in tf.environment.spec.requirements
    gpu = [n for n in notes if n.startswith(GpuUnavailableWarning.__name__)]
    assert gpu and "no GPU is available here" in gpu[0] and "CPU" in gpu[0]
    assert any(n.startswith(IgnoredEstimatorArgumentWarning.__name__) for n in notes)
    assert any(n.startswith(FrameworkVersionWarning.__name__) and "1.13" in n for n in notes)
    _, sized = build(Estimator, source, vm_size="STANDARD_NC6")
    assert any("STANDARD_NC6" in n and "GPU" in n for n in sized)
    _, ignored = build(Estimator, source, custom_docker_image="my/image:1")
    assert any("custom_docker_image is ignored" in n for n in ignored)


def test_environment_definition_and_user_managed(source: Path) -> None:
    env = Environment("mine")
    est, _ = build(Estimator, source, environment_definition=env)
    assert est.environment is env
    with pytest.raises(UserErrorException, match="environment_definition cannot be combined"):
        build(Estimator, source, environment_definition=env, pip_packages=["x"])
    managed, notes = build(SKLearn, source, user_managed=True, pip_packages=["x"])
    job = managed.to_script_run_config().to_job()
    assert job.environment is None and job.interpreter == sys.executable
    assert any("not installed" in n for n in notes)


def test_entry_script_is_needed(source: Path) -> None:
    with pytest.warns(FutureWarning):
        est = Estimator(str(source))
    with pytest.raises(UserErrorException, match="needs an entry_script"):
        est.to_script_run_config()


def test_script_run_config_migration_idiom(sws: Workspace, source: Path) -> None:
    """v1's estimator-migration guide: ``str(dref)`` plus ``data_references`` by hand."""
    dref = sws.get_default_datastore().as_mount()
    src = ScriptRunConfig(str(source), "train.py", arguments=["--data", str(dref)])
    src.run_config.data_references = {dref.data_reference_name: dref.to_config()}
    assert set(src.to_job().data_references) == {"workspaceblobstore"}


def test_azureml_train_shims_resolve() -> None:
    code = (
        "from azureml.train.estimator import Estimator\n"
        "from azureml.train.sklearn import SKLearn\n"
        "from azureml.train.dnn import TensorFlow\n"
        "import serving.sdk.estimator as e\n"
        "assert (Estimator, SKLearn, TensorFlow) == (e.Estimator, e.SKLearn, e.TensorFlow)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(COMPAT_DIR), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


TRAIN = """
import os, sys
from azureml.core import Run
run = Run.get_context()
folder = sys.argv[sys.argv.index("--data-folder") + 1]
print("files:", sorted(os.listdir(os.path.join(folder, "digits"))))
print("argv:", sys.argv[1:])
run.log("n", int(sys.argv[sys.argv.index("--n") + 1]))
print("K =", os.environ["K"])
"""


def test_user_managed_estimator_submits(sws: Workspace, source: Path, tmp_path: Path) -> None:
    (source / "train.py").write_text(textwrap.dedent(TRAIN))
    data = tmp_path / "data" / "digits"
    data.mkdir(parents=True)
    (data / "a.npy").write_bytes(b"x")
    ds = sws.get_default_datastore()
    ds.upload(str(data.parent), show_progress=False)
    est, _ = build(
        SKLearn,
        source,
        user_managed=True,
        script_params={"--data-folder": ds.as_mount(), "--n": 7, "--flag": ""},
        environment_variables={"K": "v"},
    )
    run = Experiment(sws, "estimators").submit(est)
    details = run.wait_for_completion()
    assert details["status"] == rec.COMPLETED
    log = (run._run_dir / "user_logs" / "std_log.txt").read_text()
    assert "files: ['a.npy']" in log and "K = v" in log
    assert "'--n', '7', '--flag']" in log and "$AZUREML" not in log
    assert run.get_metrics() == {"n": 7}
