"""``Model``: Azure ML v1's model class over the local registry.

``Model.register``'s ``resource_configuration`` and sample datasets are stored as properties
(``azureml.resourceConfiguration``, ``azureml.sampleInputDataset``...) and read back as
attributes; ``Model.profile`` measures a real local deployment (:mod:`serving.sdk.profile`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.errors import UserInputError
from serving.registry import ModelRecord, Ref
from serving.registry.frameworks import framework_id as _framework_id
from serving.workspace import Workspace

if TYPE_CHECKING:  # the SDK stays import-light: the remote client loads when used
    from serving.hub.remote.workspace import AnyWorkspace


class Framework:
    """Azure's ``Model.Framework`` names, mapped to this registry's framework ids."""

    SCIKITLEARN = "ScikitLearn"
    TENSORFLOW = "TensorFlow"
    TFKERAS = "TfKeras"
    ONNX = "Onnx"
    PYTORCH = "PyTorch"
    CUSTOM = "Custom"
    MULTI = "Multi"


@dataclass
class ResourceConfiguration:
    """v1's ``ResourceConfiguration(cpu=, memory_in_gb=, gpu=)``: what a model needs; stored
    with the model (``model.resource_configuration``)."""

    cpu: float | None = None
    memory_in_gb: float | None = None
    gpu: int | None = None

    def serialize(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def deserialize(payload: Mapping[str, Any]) -> ResourceConfiguration:
        return ResourceConfiguration(payload.get("cpu"), payload.get("memory_in_gb"),
                                     payload.get("gpu"))  # fmt: skip


RESOURCES = "azureml.resourceConfiguration"
SAMPLE_INPUT = "azureml.sampleInputDataset"
SAMPLE_OUTPUT = "azureml.sampleOutputDataset"
DATASETS = "azureml.datasets"


def _dataset_name(dataset: Any) -> str:
    name = getattr(dataset, "name", None)
    if not name:
        raise UserInputError("sample datasets must be registered first: dataset.register(ws, name)")
    return str(name)


def _extra_properties(
    resource_configuration: ResourceConfiguration | None,
    sample_input_dataset: Any,
    sample_output_dataset: Any,
    datasets: Sequence[Any] | None,
) -> dict[str, str]:
    out: dict[str, str] = {}
    if resource_configuration is not None:
        out[RESOURCES] = json.dumps(resource_configuration.serialize())
    if sample_input_dataset is not None:
        out[SAMPLE_INPUT] = _dataset_name(sample_input_dataset)
    if sample_output_dataset is not None:
        out[SAMPLE_OUTPUT] = _dataset_name(sample_output_dataset)
    if datasets:
        out[DATASETS] = json.dumps([[str(p), _dataset_name(d)] for p, d in datasets])
    return out


def _tag_filter(tags: Sequence[Any] | Mapping[str, str] | None) -> dict[str, str | None]:
    """Azure's ``tags=['k', ['k', 'v']]`` (or a plain dict) into key -> value-or-None."""
    if tags is None:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    out: dict[str, str | None] = {}
    for item in tags:
        if isinstance(item, str):
            out[item] = None
        else:
            key, value = item
            out[str(key)] = str(value)
    return out


class Model:
    """A registered model version: ``Model(ws, name, version=None)`` gets the latest."""

    Framework = Framework

    def __init__(
        self,
        workspace: AnyWorkspace,
        name: str | None = None,
        id: str | None = None,
        version: int | None = None,
        **_azure_kwargs: Any,
    ) -> None:
        if id is not None:
            name, _, ver = id.partition(":")
            version = int(ver) if ver else version
        if name is None:
            raise UserInputError("Model() needs a name or an id")
        self.workspace = workspace
        self._record = workspace.models.get(Ref(name, version))

    @classmethod
    def _wrap(cls, workspace: AnyWorkspace, record: ModelRecord) -> Model:
        obj = cls.__new__(cls)
        obj.workspace = workspace
        obj._record = record
        return obj

    # -- Azure-shaped class methods ------------------------------------------------------
    @classmethod
    def register(
        cls,
        workspace: AnyWorkspace,
        model_path: str | Path,
        model_name: str,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        description: str | None = None,
        datasets: Sequence[Any] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        child_paths: Sequence[str] | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: ResourceConfiguration | None = None,
        run_id: str | None = None,
        **azure_only: Any,
    ) -> Model:
        """v1's ``Model.register``: the file or folder at ``model_path`` as the next version.
        Resource configuration and sample datasets are stored as properties."""
        ignored = sorted(k for k, v in azure_only.items() if v is not None)
        if child_paths:
            ignored.append("child_paths (the whole folder is registered)")
        if ignored:
            warnings.warn(f"Model.register: {', '.join(ignored)} not supported here (ignored)",
                          UserWarning, stacklevel=2)  # fmt: skip
        extra = _extra_properties(
            resource_configuration, sample_input_dataset, sample_output_dataset, datasets
        )
        record = workspace.models.register(
            Path(model_path),
            model_name,
            tags=tags,
            properties={**(properties or {}), **extra},
            description=description,
            framework=_framework_id(model_framework),
            framework_version=model_framework_version,
            run_id=run_id,
        )
        return cls._wrap(workspace, record)

    @classmethod
    def list(
        cls,
        workspace: AnyWorkspace,
        name: str | None = None,
        tags: Sequence[Any] | Mapping[str, str] | None = None,
        run_id: str | None = None,
        latest: bool = False,
        **_azure_kwargs: Any,
    ) -> list[Model]:
        records = workspace.models.list(
            name=name, tags=_tag_filter(tags), latest=latest, run_id=run_id
        )
        return [cls._wrap(workspace, r) for r in records]

    @staticmethod
    def get_model_path(
        model_name: str, version: int | None = None, _workspace: AnyWorkspace | None = None
    ) -> str:
        """On the client (v1's ``_workspace=ws``): download the model into
        ``./azureml-models/<name>/<version>/`` (once) and return the path of its file or
        folder, as v1 does. Inside a deployment, the ``azureml.core`` shim answers instead."""
        if _workspace is None:
            raise UserInputError("outside a deployment, pass _workspace= to get_model_path")
        record = _workspace.models.get(Ref(model_name, version))
        folder = Path("azureml-models") / record.name / str(record.version)
        target = folder / record.root_name
        if not target.exists():
            _workspace.models.download(Ref(record.name, record.version), folder, exist_ok=True)
        return str(target)

    # -- instance API --------------------------------------------------------------------
    name = property(lambda self: self._record.name)
    version = property(lambda self: self._record.version)
    id = property(lambda self: self._record.ref)
    tags = property(lambda self: dict(self._record.tags))
    properties = property(lambda self: dict(self._record.properties))
    description = property(lambda self: self._record.description)
    model_framework = property(lambda self: self._record.framework)
    model_framework_version = property(lambda self: self._record.framework_version)
    run_id = property(lambda self: self._record.run_id)
    created_time = property(lambda self: self._record.created_at)

    @property
    def resource_configuration(self) -> ResourceConfiguration | None:
        value = self._record.properties.get(RESOURCES)
        return None if value is None else ResourceConfiguration.deserialize(json.loads(value))

    @property
    def sample_input_dataset(self) -> Any:
        return self._dataset(SAMPLE_INPUT)

    @property
    def sample_output_dataset(self) -> Any:
        return self._dataset(SAMPLE_OUTPUT)

    def _dataset(self, key: str) -> Any:
        from serving.sdk.dataset import Dataset

        name = self._record.properties.get(key)
        return None if name is None else Dataset.get_by_name(self._folder("datasets"), name)

    def _folder(self, what: str) -> Workspace:
        """The workspace folder, for what a server does not offer yet."""
        if not isinstance(self.workspace, Workspace):
            from serving.hub.remote.workspace import not_remote

            raise not_remote(what, self.workspace.url)
        return self.workspace

    @property
    def record(self) -> ModelRecord:
        return self._record

    def download(
        self, target_dir: str | Path = ".", exist_ok: bool = False, **_azure_kwargs: Any
    ) -> str:
        return str(
            self.workspace.models.download(
                Ref(self.name, self.version), Path(target_dir), exist_ok=exist_ok
            )
        )

    def update(self, tags: Mapping[str, str] | None = None, description: str | None = None) -> None:
        self._record = self.workspace.models.update(
            Ref(self.name, self.version), add_tags=tags, description=description
        )

    def add_tags(self, tags: Mapping[str, str]) -> None:
        self.update(tags=tags)

    def remove_tags(self, tags: Iterable[str]) -> None:
        self._record = self.workspace.models.update(
            Ref(self.name, self.version), remove_tags=list(tags)
        )

    def add_properties(self, properties: Mapping[str, str]) -> None:
        self._record = self.workspace.models.update(
            Ref(self.name, self.version), add_properties=properties
        )

    def delete(self, force: bool = False) -> None:
        self.workspace.models.delete(Ref(self.name, self.version), force=force)

    def convert(
        self,
        to: str = "onnx",
        *,
        sample: str | Path | None = None,
        onnx_file: str | Path | None = None,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        rows: int = 100,
        opset: int = 17,
    ) -> Model:
        """Convert to ONNX behind the parity gate (``serving models convert``): the new
        version of this model, with ``converted_from`` and the ``parity_report`` properties."""
        from serving.convert import ConvertOptions, convert

        if to != "onnx":
            raise UserInputError(f"cannot convert to {to!r}: only 'onnx' is supported")
        options = ConvertOptions(
            atol, rtol, None if sample is None else Path(sample), rows, opset,
            None if onnx_file is None else Path(onnx_file),
        )  # fmt: skip
        done = convert(self._folder("Model.convert").models, Ref(self.name, self.version), options)
        return Model._wrap(self.workspace, done.record)

    def serialize(self) -> dict[str, Any]:
        return self._record.to_dict()

    @staticmethod
    def deploy(
        workspace: Workspace,
        name: str,
        models: Sequence[Model],
        inference_config: Any = None,
        deployment_config: Any = None,
        deployment_target: Any = None,
        overwrite: bool = False,
        show_output: bool = False,
    ) -> Any:
        """Deploy ``models`` with ``inference_config`` as service ``name`` (see webservice;
        without one: a no-code deployment of a single ONNX, scikit-learn or TensorFlow
        model); ``deployment_target`` is an ``AksCompute`` for an ``AksWebservice``."""
        from serving.sdk.webservice import deploy_models

        return deploy_models(
            workspace,
            name,
            models,
            inference_config,
            deployment_config,
            overwrite=overwrite,
            show_output=show_output,
            deployment_target=deployment_target,
        )

    @staticmethod
    def package(
        workspace: Workspace,
        models: Sequence[Model],
        inference_config: Any = None,
        generate_dockerfile: bool = False,
        image_name: str | None = None,
        image_label: str | None = None,
    ) -> Any:
        """Build an image of ``models`` (or only its Dockerfile context): see sdk.package."""
        from serving.sdk.package import package

        if inference_config is None:
            raise UserInputError("Model.package needs an inference_config with an entry script")
        return package(
            workspace, models, inference_config, generate_dockerfile, image_name, image_label
        )

    @staticmethod
    def profile(
        workspace: Workspace,
        profile_name: str,
        models: Sequence[Model],
        inference_config: Any,
        input_dataset: Any = None,
        cpu: float | None = None,
        memory_in_gb: float | None = None,
        description: str | None = None,
        duration_s: int = 10,
        users: int = 2,
    ) -> Any:
        """Run the models in a real local deployment under a short load with the samples of
        ``input_dataset`` and return a ``ModelProfile`` (recommended CPU and memory, latency)."""
        from serving.sdk.profile import profile

        return profile(
            workspace, profile_name, models, inference_config, input_dataset,
            cpu=cpu, memory_in_gb=memory_in_gb, description=description,
            duration_s=duration_s, users=users,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"Model(name={self.name!r}, version={self.version}, framework={self.model_framework!r})"
        )
