"""Environment management the v1 way: ``Environment("x")``, ``python.conda_dependencies``,
``register``, ``get`` by string version, ``list`` with curated names, docker settings, and
``CondaDependencies`` itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from serving.environments import parse_conda_file
from serving.sdk import CondaDependencies, CuratedEnvironmentNotice, Environment, Workspace
from tests.helpers import SKLEARN
from tests.sdk.v1helpers import digits_env


def test_environment_management_notebook_flow(sdk_ws: Workspace) -> None:
    env = Environment("sklearn-env")
    assert env.spec.requirements == () and env.spec.replaced == ("azureml-defaults",)
    conda_dep = CondaDependencies()
    conda_dep.add_conda_package("scikit-learn")
    conda_dep.add_pip_package("joblib==1.4.2")
    env.python.conda_dependencies = conda_dep
    env.python.user_managed_dependencies = False
    env.environment_variables = {"MODE": "fast"}
    plain_hash = env.spec.content_hash()
    env.docker.base_image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"  # honoured
    assert env.spec.base_image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    assert env.spec.content_hash() != plain_hash  # another base: other images
    with pytest.warns(UserWarning, match=r"env\.docker\.shm_size is not used"):
        env.docker.shm_size = "2g"
    env.docker.enabled = True  # kept: docker runs use the environment's own image

    registered = env.register(workspace=sdk_ws)
    assert registered.version == "1"
    assert registered.spec.requirements == ("joblib==1.4.2", "scikit-learn")
    assert registered.environment_variables == {"MODE": "fast"}
    assert registered.spec.base_image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    assert env.register(sdk_ws).version == "1"  # unchanged content: same version

    got = Environment.get(workspace=sdk_ws, name="sklearn-env", version="1")
    assert got.version == "1" and got.spec.content_hash() == registered.spec.content_hash()
    assert "joblib==1.4.2" in got.python.conda_dependencies.pip_packages  # type: ignore[union-attr]

    got.python.conda_dependencies.add_pip_package("pandas")  # type: ignore[union-attr]
    assert got.register(sdk_ws).version == "2"  # what was built is what is registered

    envs = Environment.list(workspace=sdk_ws)
    assert {"sklearn-env", "AzureML-Minimal", "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu"} <= set(
        envs
    )
    assert envs["sklearn-env"].version == "2"


def test_curated_environment_is_an_approximation_with_a_notice(sdk_ws: Workspace) -> None:
    with pytest.warns(CuratedEnvironmentNotice, match="approximation"):
        env = Environment.get(sdk_ws, "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu")
    assert "scikit-learn" in env.spec.requirements and "pandas" in env.spec.requirements
    with pytest.warns(CuratedEnvironmentNotice, match="serving runtime only"):
        minimal = Environment.get(sdk_ws, "AzureML-Minimal")
    assert minimal.spec.requirements == ()


def test_unknown_environment_is_not_found(sdk_ws: Workspace) -> None:
    from serving.errors import NotFoundError

    with pytest.raises(NotFoundError, match="nope"):
        Environment.get(sdk_ws, "nope")


def test_condadependencies_create_matches_the_template_env_file() -> None:
    """Built in code or written as a file: the same environment (and the same venv)."""
    assert digits_env().spec.content_hash() == parse_conda_file(SKLEARN / "env.yml").content_hash()


def test_condadependencies_api(tmp_path: Path) -> None:
    cd = CondaDependencies.create(
        pip_packages=["azureml-defaults", "joblib"], conda_packages=["numpy=1.26"],
        python_version="3.11", pin_sdk_version=False,
    )  # fmt: skip
    cd.add_channel("conda-forge")
    cd.add_channel("pytorch")
    cd.remove_channel("pytorch")
    cd.add_conda_package("numpy=2.0")  # replaces the version
    cd.add_pip_package("requests")
    cd.remove_pip_package("joblib")
    cd.add_conda_package("scipy")
    cd.remove_conda_package("scipy")
    assert cd.conda_packages == ["numpy=2.0"]
    assert cd.pip_packages == ["azureml-defaults", "requests"]
    assert "pytorch" not in cd.conda_channels and cd.get_python_version() == "3.11"
    text = cd.serialize_to_string()
    assert yaml.safe_load(text)["dependencies"][0] == "python=3.11"
    saved = Path(cd.save(tmp_path / "env.yml"))
    again = CondaDependencies(conda_dependencies_file_path=saved)
    assert again.serialize_to_string() == text
    env = Environment.from_conda_specification("from-file", saved)
    assert env.spec.requirements == ("numpy==2.0.*", "requests")
    assert env.spec.replaced == ("azureml-defaults",)


def test_environment_with_nothing_added_is_the_runtime_only(sdk_ws: Workspace) -> None:
    env = Environment("bare").register(sdk_ws)
    assert env.spec.requirements == () and env.version == "1"


def test_get_by_latest_or_bad_version(sdk_ws: Workspace) -> None:
    from serving.errors import UserInputError

    Environment("e").register(sdk_ws)
    assert Environment.get(sdk_ws, "e", version="latest").version == "1"
    with pytest.raises(UserInputError, match="'one' is not a number"):
        Environment.get(sdk_ws, "e", version="one")
