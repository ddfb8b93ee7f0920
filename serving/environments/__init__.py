"""Environments: conda/pip files to :class:`EnvSpec`, and local virtual environments.

``env.yml`` and ``requirements.txt`` files are parsed into a canonical, hashable
:class:`EnvSpec` (conda names mapped to PyPI, Azure ML meta-packages replaced by the
serving runtime); :func:`ensure_venv` builds a venv for one, keyed by its content hash.
"""

from serving.environments.conda import parse_conda_file, parse_conda_text
from serving.environments.pip import parse_pip_requirements_file, parse_pip_requirements_text
from serving.environments.runtime import runtime_requirements
from serving.environments.spec import EnvSpec
from serving.environments.venv import ensure_venv

__all__ = [
    "EnvSpec",
    "ensure_venv",
    "parse_conda_file",
    "parse_conda_text",
    "parse_pip_requirements_file",
    "parse_pip_requirements_text",
    "runtime_requirements",
]
