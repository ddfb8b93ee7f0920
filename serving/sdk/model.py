"""``Model``: Azure ML v1's model class over the local registry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from serving.errors import UserInputError
from serving.registry import ModelRecord, Ref
from serving.registry.frameworks import framework_id as _framework_id
from serving.workspace import Workspace


class Framework:
    """Azure's ``Model.Framework`` names, mapped to this registry's framework ids."""

    SCIKITLEARN = "ScikitLearn"
    TENSORFLOW = "TensorFlow"
    TFKERAS = "TfKeras"
    ONNX = "Onnx"
    PYTORCH = "PyTorch"
    CUSTOM = "Custom"
    MULTI = "Multi"


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
        workspace: Workspace,
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
    def _wrap(cls, workspace: Workspace, record: ModelRecord) -> Model:
        obj = cls.__new__(cls)
        obj.workspace = workspace
        obj._record = record
        return obj

    # -- Azure-shaped class methods ------------------------------------------------------
    @classmethod
    def register(
        cls,
        workspace: Workspace,
        model_path: str | Path,
        model_name: str,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        description: str | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        run_id: str | None = None,
        **_azure_kwargs: Any,
    ) -> Model:
        record = workspace.models.register(
            Path(model_path),
            model_name,
            tags=tags,
            properties=properties,
            description=description,
            framework=_framework_id(model_framework),
            framework_version=model_framework_version,
            run_id=run_id,
        )
        return cls._wrap(workspace, record)

    @classmethod
    def list(
        cls,
        workspace: Workspace,
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
        model_name: str, version: int | None = None, _workspace: Workspace | None = None
    ) -> str:
        """Outside a deployment: download into ``./<name>/<version>`` is not done; this
        returns the path the model would have inside a deployment's app folder."""
        if _workspace is None:
            raise UserInputError("outside a deployment, pass _workspace= to get_model_path")
        record = _workspace.models.get(Ref(model_name, version))
        return str(Path("azureml-models") / record.name / str(record.version) / record.root_name)

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
        """Deploy ``models`` with ``inference_config`` as service ``name`` (see webservice)."""
        from serving.sdk.webservice import deploy_models

        if inference_config is None:
            raise UserInputError(
                "Model.deploy needs an inference_config (no-code deploy is "
                "not supported: give an entry script)"
            )
        return deploy_models(
            workspace,
            name,
            models,
            inference_config,
            deployment_config,
            overwrite=overwrite,
            show_output=show_output,
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

    def __repr__(self) -> str:
        return (
            f"Model(name={self.name!r}, version={self.version}, framework={self.model_framework!r})"
        )
