"""Every v1 name the notebooks use imports from ``serving.sdk``; Azure-only names import
too and say why they cannot be used; the small blocking names work."""

from __future__ import annotations

import importlib

import pytest

import serving.sdk as sdk
from serving.errors import UserInputError

V1_NAMES = (
    "Workspace", "Environment", "CondaDependencies", "Model", "ResourceConfiguration",
    "InferenceConfig", "Webservice", "LocalWebservice", "AciWebservice", "AksWebservice",
    "WebserviceException", "ComputeTarget", "AksCompute", "AmlCompute",
    "ComputeTargetException", "UserErrorException", "Dataset", "TabularDataset", "FileDataset",
    "Datastore", "Experiment", "Run", "ScriptRunConfig", "RunDetails", "ModelProfile",
    "ModelPackage", "VERSION", "set_diagnostics_collection", "PromoteHeadersBehavior",
    "InteractiveLoginAuthentication", "ServicePrincipalAuthentication",
)  # fmt: skip


@pytest.mark.parametrize("name", V1_NAMES)
def test_v1_name_imports_from_serving_sdk(name: str) -> None:
    assert getattr(sdk, name) is not None
    assert name in sdk.__all__


def test_every_listed_name_resolves() -> None:
    for name in sdk.__all__:
        getattr(sdk, name)


def test_version_and_telemetry_noop() -> None:
    from serving import __version__
    from serving.sdk import VERSION, set_diagnostics_collection

    assert __version__ == VERSION
    assert set_diagnostics_collection(send_diagnostics=True) is None


def test_dataset_type_definitions_module_imports() -> None:
    from serving.sdk import dataset_type_definitions

    assert dataset_type_definitions.PromoteHeadersBehavior.ALL_FILES_HAVE_SAME_HEADERS


def test_v1_exceptions_are_the_ones_raised() -> None:
    from serving.sdk import ComputeTargetException, UserErrorException, WebserviceException

    assert issubclass(UserErrorException, UserInputError)
    assert issubclass(WebserviceException, Exception)
    assert issubclass(ComputeTargetException, Exception)


@pytest.mark.parametrize("name", ["DatabricksCompute", "Keyvault", "ContainerImage"])
def test_azure_only_names_import_and_explain(name: str) -> None:
    cls = getattr(importlib.import_module("serving.sdk"), name)
    with pytest.raises(sdk.AzureOnlyError, match=name) as info:
        cls()
    assert "AttributeError" not in type(info.value).__name__
    with pytest.raises(sdk.AzureOnlyError, match=rf"{name}\.attach_configuration"):
        cls.attach_configuration(resource_group="rg")


def test_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        sdk.NoSuchThing  # noqa: B018


def test_token_auth_says_why_it_is_missing() -> None:
    from serving.sdk import Webservice, WebserviceException
    from serving.sdk.webservice import Webservice as Direct

    assert Webservice is Direct
    service = Direct.__new__(Direct)
    service.name = "svc"
    with pytest.raises(WebserviceException, match=r"no token auth.*use keys"):
        service.get_token()
