"""What a model image is made of: its request, its server settings and command, its labels
and the key that says whether an identical image was built before."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import serving
from serving.config import ServerSettings
from serving.environments import EnvSpec
from serving.images.context import AppContext
from serving.images.dockerfile import ENV_PYTHON, model_stage
from serving.images.flavours import code_digest
from serving.registry import ModelRecord
from serving.server.gunicorn import gunicorn_argv

CONTAINER_PORT = 5001
DEFAULT_NAMESPACE = "serving"


@dataclass(frozen=True)
class BuildRequest:
    """Everything a model image is built from."""

    models: tuple[ModelRecord, ...]
    entry_script: Path | None
    """None: a no-code image (``nocode`` names the framework whose scorer serves)."""
    source_dir: Path | None
    env: EnvSpec
    name: str | None = None
    """Image repository (default ``serving/<first model name>``)."""
    label: str | None = None
    """Docker tag label (default: the image's version number in the registry)."""
    flavour: str = "auto"
    service_name: str | None = None
    """SERVICE_NAME inside the image (default: the last part of the name)."""
    nocode: str = ""
    """The framework of a no-code image (its one model served by the platform's scorer)."""

    @property
    def repository(self) -> str:
        if self.name:
            return self.name
        first = self.models[0].name.lower() if self.models else "model"
        return f"{DEFAULT_NAMESPACE}/{re.sub(r'[^a-z0-9._-]+', '-', first).strip('.-_') or 'model'}"


def server_settings(
    app: AppContext,
    service_name: str,
    *,
    workers: int = 1,
    threads: int = 1,
    nocode: tuple[str, ModelRecord] | None = None,
) -> ServerSettings:
    """The server settings of a container of this image (bound to 0.0.0.0:5001); with
    ``nocode`` (framework, model) the platform's scorer serves that model."""
    settings = ServerSettings(
        app_root=Path(app.env["AML_APP_ROOT"]),
        entry_script=app.env["AZUREML_ENTRY_SCRIPT"],
        source_directory=app.env.get("AZUREML_SOURCE_DIRECTORY"),
        model_dir=Path(app.env["AZUREML_MODEL_DIR"]),
        host="0.0.0.0",
        port=CONTAINER_PORT,
        workers=workers,
        threads=threads,
        service_name=service_name,
    )
    if nocode is None:
        return settings
    framework, model = nocode
    return serve_nocode(settings, framework, model.name, str(model.version))


def serve_nocode(
    settings: ServerSettings, framework: str, model_name: str, model_version: str
) -> ServerSettings:
    """``settings`` with the platform's no-code scorer of ``framework`` serving that model
    in place of an entry script (empty name and version: a models tree the scorer looks
    through). One place for ``serving serve``, local endpoints and model images."""
    return replace(
        settings,
        entry_script="",
        nocode_framework=framework,
        model_name=model_name,
        model_version=model_version,
    )


def image_env(settings: ServerSettings) -> dict[str, str]:
    """ENV of the image: the settings without keys (those come at run time)."""
    env = settings.to_env()
    env.pop("SERVING_KEYS", None)
    return env


def build_key(env_image_id: str, app: AppContext, env: dict[str, str], cmd: list[str]) -> str:
    """sha256 of every input of the model layers: equal keys, equal images."""
    text = json.dumps(
        {
            "env_image": env_image_id,
            "models": app.models,
            "app": app.app_sha256,
            "env": env,
            "cmd": cmd,
            "version": serving.__version__,
            "code": code_digest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def image_labels(
    request: BuildRequest, app: AppContext, *, flavour: str, base: str, key: str, created: datetime
) -> dict[str, str]:
    """Provenance labels on every model image."""
    return {
        "serving.version": serving.__version__,
        "serving.built-at": created.isoformat(timespec="seconds"),
        "serving.models": json.dumps(app.models, sort_keys=True),
        "serving.entry-script": app.entry_script,
        "serving.entry-script.sha256": app.script_sha256,
        "serving.nocode": request.nocode,
        "serving.app.sha256": app.app_sha256,
        "serving.env.hash": request.env.content_hash(),
        "serving.env.name": request.env.name,
        "serving.python": request.env.python,
        "serving.flavour": flavour,
        "serving.base": base,
        "serving.build-key": key,
        "org.opencontainers.image.created": created.isoformat(timespec="seconds"),
        "org.opencontainers.image.title": request.repository,
        "org.opencontainers.image.version": serving.__version__,
    }


@dataclass(frozen=True)
class ModelLayers:
    """The model stage: settings, command, labels and the build key."""

    env: dict[str, str]
    cmd: list[str]
    labels: dict[str, str]
    key: str

    def dockerfile(self, from_ref: str) -> str:
        """The stage as Dockerfile text (for build contexts built with plain docker)."""
        return model_stage(from_ref, env=self.env, cmd=self.cmd, labels=self.labels)


def model_layers(
    request: BuildRequest,
    app: AppContext,
    *,
    env_image_id: str,
    flavour: str,
    base: str,
    created: datetime,
) -> ModelLayers:
    """What the model stage sets, and its build key."""
    service = request.service_name or request.repository.rsplit("/", 1)[-1]
    nocode = (request.nocode, request.models[0]) if request.nocode else None
    settings = server_settings(app, service, nocode=nocode)
    env = image_env(settings)
    cmd = gunicorn_argv(settings, python=ENV_PYTHON)
    key = build_key(env_image_id, app, env, cmd)
    labels = image_labels(request, app, flavour=flavour, base=base, key=key, created=created)
    return ModelLayers(env, cmd, labels, key)
