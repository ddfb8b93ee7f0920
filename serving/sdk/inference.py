"""``InferenceConfig``: the entry script, its source folder and environment of a deployment
(Azure ML v1's ``azureml.core.model.InferenceConfig``, legacy arguments included)."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.errors import UserInputError
from serving.sdk.environment import docker_steps

if TYPE_CHECKING:
    from serving.sdk.environment import Environment

_IMAGE_ONLY = ("enable_gpu", "base_image_registry", "cuda_version")


@dataclass
class InferenceConfig:
    """The entry script, its source folder and the environment to run it in.

    v1's legacy arguments: ``runtime="python"`` (the only runtime), ``conda_file=``
    (relative to ``source_directory``) when there is no ``environment``; ``base_image`` is
    the environment's base image (as ``env.docker.base_image``) and
    ``extra_docker_file_steps`` (a file of ``RUN``/``ENV``... lines, relative to
    ``source_directory``) runs on top of its image; the other image options
    (``enable_gpu``...) warn that they have no effect.
    """

    entry_script: str | Path = ""
    """Empty (or None, as v1 writes it): no-code deployment (one ONNX, scikit-learn or
    TensorFlow model served by the platform's scorer), see :meth:`entry_script_path`."""
    runtime: str | None = None
    conda_file: str | Path | None = None
    extra_docker_file_steps: str | Path | None = None
    source_directory: str | Path | None = None
    enable_gpu: bool | None = None
    description: str | None = None
    base_image: str | None = None
    base_image_registry: Any = None
    cuda_version: str | None = None
    environment: Environment | None = None

    def __post_init__(self) -> None:
        if self.runtime is not None and str(self.runtime).lower() != "python":
            raise UserInputError(
                f"InferenceConfig(runtime={self.runtime!r}): only the python runtime exists here"
            )
        ignored = [n for n in _IMAGE_ONLY if getattr(self, n)]
        if self.environment is not None and self.conda_file is not None:
            ignored.append("conda_file (environment= is used)")
        if ignored:
            warnings.warn(
                f"InferenceConfig: {', '.join(ignored)} have no effect here "
                "(images are built on this platform's base from the environment)",
                UserWarning,
                stacklevel=3,
            )

    def script(self) -> Path:
        """The entry script (an error naming what is missing when there is none: packaging
        needs one)."""
        if not self.entry_script:
            raise UserInputError(
                "InferenceConfig has no entry_script: an image needs one (no-code deployment "
                "is for Model.deploy)",
                hint="give InferenceConfig(entry_script='score.py', environment=env)",
            )
        return Path(self.entry_script)

    def entry_script_path(self) -> Path | None:
        """The entry script, or None for a no-code deployment."""
        return Path(self.entry_script) if self.entry_script else None

    def env_value(self) -> Any:
        """The environment: a spec, or a conda file's path (a spec when image options)."""
        if self.environment is not None:
            if self.environment.python.user_managed_dependencies:
                warnings.warn(
                    "python.user_managed_dependencies applies to runs: a deployment installs "
                    "the environment's packages into its own environment",
                    UserWarning,
                    stacklevel=2,
                )
            spec = self.environment.spec
        elif self.conda_file is not None:
            base = Path(self.source_directory) if self.source_directory else Path.cwd()
            path = Path(self.conda_file)
            found = path if path.is_absolute() or path.is_file() else base / path
            if not self.base_image and not self.extra_docker_file_steps:
                return str(found)
            from serving.catalog import parse_env_file

            spec = parse_env_file(found, found.stem)
        elif not self.entry_script:
            return None  # no-code: the built-in environment of the model's framework
        else:
            raise UserInputError("InferenceConfig needs an environment= or a conda_file=")
        if self.base_image:
            spec = dataclasses.replace(spec, base_image=str(self.base_image))
        if self.extra_docker_file_steps:
            steps = docker_steps(self._read_steps(), "extra_docker_file_steps")
            spec = dataclasses.replace(spec, docker_steps=(*spec.docker_steps, *steps))
        return spec

    def _read_steps(self) -> str:
        path = Path(str(self.extra_docker_file_steps))
        if not path.is_absolute() and not path.is_file() and self.source_directory:
            path = Path(self.source_directory) / path
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserInputError(f"extra_docker_file_steps: cannot read {path}: {exc}") from None


__all__ = ["InferenceConfig"]
