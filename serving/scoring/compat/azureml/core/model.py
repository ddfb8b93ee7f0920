"""``azureml.core.model.Model`` as seen from inside a deployment: model path lookup only."""

from __future__ import annotations

import logging
import os

from ..exceptions import ModelNotFoundException, WebserviceException

_log = logging.getLogger("azureml.core.model")

MODELS_DIR: str = os.path.join(os.environ.get("AML_APP_ROOT", ""), "azureml-models")
"""``$AML_APP_ROOT/azureml-models``, read once at import like the real SDK."""


def _latest_version(entries: list[str]) -> int | None:
    versions = [int(entry) for entry in entries if entry.isdigit()]
    return max(versions) if versions else None


class Model:
    """Model lookup for entry scripts; ``register`` and ``list`` are the SDK's (training
    scripts and pipeline steps call them; a deployment image does not have the SDK)."""

    @staticmethod
    def get_model_path(
        model_name: str, version: int | None = None, _workspace: object = None
    ) -> str:
        """Return the path of a deployed model file or folder.

        Looks in ``$AML_APP_ROOT/azureml-models/<name>/<version>`` (the largest version when
        none is given), whose single entry is the model. Falls back to ``./<name>``.
        """
        if version is not None and not isinstance(version, int):
            raise WebserviceException("version should be an int")
        if model_name is None:
            raise WebserviceException("model_name is None")
        name_dir = os.path.join(MODELS_DIR, model_name)
        if os.path.isdir(name_dir):
            chosen = version if version is not None else _latest_version(os.listdir(name_dir))
            version_dir = os.path.join(name_dir, str(chosen))
            if chosen is not None and os.path.isdir(version_dir):
                entries = sorted(os.listdir(version_dir))
                if len(entries) != 1:
                    raise WebserviceException(
                        f"Dir {version_dir} can contain only 1 file or folder. Found {entries}"
                    )
                path = os.path.join(version_dir, entries[0])
                _log.debug("Found model path at %s", path)
                return path
        if os.path.exists(model_name):
            return model_name
        raise ModelNotFoundException(
            f"Model {model_name} not found in cache at {MODELS_DIR} or in current working "
            f"directory {os.getcwd()}. For more info, set logging level to DEBUG."
        )

    @staticmethod
    def register(workspace: object, model_path: str, model_name: str, **kwargs: object) -> object:
        """Register a model (a training script's or pipeline step's v1 call): the SDK's."""
        from serving.sdk.model import Model as SdkModel

        return SdkModel.register(workspace, model_path, model_name, **kwargs)  # type: ignore[arg-type]

    @staticmethod
    def list(workspace: object, *args: object, **kwargs: object) -> object:
        """The registered models (the SDK's ``Model.list``)."""
        from serving.sdk.model import Model as SdkModel

        return SdkModel.list(workspace, *args, **kwargs)  # type: ignore[arg-type]
