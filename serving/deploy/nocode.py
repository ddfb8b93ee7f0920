"""No-code deployments: which framework's scorer serves the model, and the built-in
environment a deployment gets when it names none.

A deployment without an entry script is served by the platform's own scorer
(:mod:`serving.scoring.nocode`), as Azure ML's no-code deployments were: it needs exactly
one registered model whose framework is ONNX, scikit-learn or TensorFlow. Without
``--env`` it runs in a small built-in environment (ONNX: numpy and onnxruntime, which is
the ``onnx`` image flavour itself, so its image adds almost nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from serving.environments import EnvSpec
from serving.environments.pip import parse_pip_requirements_text
from serving.errors import UserInputError
from serving.scoring.nocode import FRAMEWORKS

if TYPE_CHECKING:
    from serving.registry import ModelRecord

ENV_PREFIX = "nocode-"
"""Built-in environments are named ``nocode-<framework>``."""


def nocode_framework(models: Sequence[ModelRecord]) -> str:
    """The framework whose scorer serves ``models``; a one-line error naming why none does."""
    if len(models) != 1:
        raise UserInputError(
            f"a deployment without an entry script serves exactly one model, got {len(models)}",
            hint="give one --model, or an --entry-script that loads them",
        )
    model = models[0]
    if model.framework not in FRAMEWORKS:
        raise UserInputError(
            f"model {model.ref} has framework {model.framework!r}: no-code deployment serves "
            f"{', '.join(FRAMEWORKS)} models only",
            hint="give an --entry-script, or register the model with --framework",
        )
    return model.framework


def builtin_env(model: ModelRecord) -> EnvSpec:
    """The environment of a no-code deployment of ``model`` that names none."""
    framework = nocode_framework([model])
    version = model.framework_version
    if framework == "onnx":
        lines = ["numpy", "onnxruntime"]
    elif framework == "sklearn":
        lines = [f"scikit-learn=={version}" if version else "scikit-learn", "joblib", "numpy"]
    else:
        lines = [f"tensorflow-cpu=={version}" if version else "tensorflow-cpu"]
    return parse_pip_requirements_text(
        "\n".join(lines) + "\n", source="built-in", name=ENV_PREFIX + framework
    )


def is_builtin(env: EnvSpec) -> bool:
    """Whether ``env`` is a built-in no-code environment (replaced when the model changes)."""
    return env.name.startswith(ENV_PREFIX) and env.source_format == "pip"
