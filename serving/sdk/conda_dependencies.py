"""``CondaDependencies``: Azure ML v1's in-code conda file (``azureml.core.conda_dependencies``).

::

    cd = CondaDependencies.create(pip_packages=["azureml-defaults", "joblib"],
                                  conda_packages=["scikit-learn"], python_version="3.11")
    env.python.conda_dependencies = cd
    cd.save("env.yml")

It holds the YAML document (name, channels, dependencies with a ``pip:`` section) and turns
into an :class:`~serving.environments.EnvSpec` through the same parser as an env.yml, so
``azureml-defaults`` and friends are replaced by the serving runtime exactly as in files.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from serving.environments import EnvSpec
from serving.environments.conda import parse_conda_text
from serving.errors import UserInputError

DEFAULT_SDK_ORIGIN = "azureml-defaults"
"""What v1 adds to a new environment's pip section (replaced here by the serving runtime)."""
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-\[\],]*)")


def _current_python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _package_name(spec: str) -> str:
    """``scikit-learn==1.0`` / ``numpy>=1.2`` / ``pandas=1.3`` -> the bare lower-case name."""
    match = _NAME.match(spec)
    name = match.group(1) if match else spec
    return re.sub(r"\[.*\]$", "", name).lower().replace("_", "-")


class CondaDependencies:
    """A conda environment document built in code; ``CondaDependencies()`` is v1's default
    (this Python, ``azureml-defaults``), ``CondaDependencies(path)`` reads a file."""

    def __init__(
        self,
        conda_dependencies_file_path: str | Path | None = None,
        _underlying_structure: dict[str, Any] | None = None,
    ) -> None:
        if conda_dependencies_file_path is not None:
            path = Path(conda_dependencies_file_path)
            if not path.is_file():
                raise UserInputError(f"conda dependencies file {path} does not exist")
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                raise UserInputError(f"{path} is not a conda environment document")
            self._doc: dict[str, Any] = data
        elif _underlying_structure is not None:
            self._doc = dict(_underlying_structure)
        else:
            self._doc = {
                "name": "project_environment",
                "dependencies": [f"python={_current_python()}", {"pip": [DEFAULT_SDK_ORIGIN]}],
                "channels": ["anaconda", "conda-forge"],
            }
        self._doc.setdefault("dependencies", [])

    # -- construction --------------------------------------------------------------------
    @staticmethod
    def create(
        pip_packages: Iterable[str] | None = None,
        conda_packages: Iterable[str] | None = None,
        python_version: str | None = None,
        pin_sdk_version: bool = True,
        pip_indexurl: str | None = None,
    ) -> CondaDependencies:
        """v1's factory: ``python_version`` defaults to this interpreter's; ``azureml-*``
        pins (``pin_sdk_version``) mean nothing here, since those packages are replaced."""
        cd = CondaDependencies(_underlying_structure={"name": "project_environment"})
        cd._doc["dependencies"] = [f"python={python_version or _current_python()}"]
        cd._doc["channels"] = ["anaconda", "conda-forge"]
        for package in conda_packages or ():
            cd.add_conda_package(package)
        for package in pip_packages or ():
            cd.add_pip_package(package)
        if pip_indexurl:
            cd.set_pip_option(f"--index-url {pip_indexurl}")
        return cd

    @staticmethod
    def merge_requirements(requirements: Iterable[str]) -> list[str]:
        """Drop duplicate requirement lines, keeping the first of each name."""
        seen: dict[str, str] = {}
        for line in requirements:
            seen.setdefault(_package_name(line), line)
        return list(seen.values())

    # -- the conda section ---------------------------------------------------------------
    def _conda(self) -> list[Any]:
        deps: list[Any] = self._doc["dependencies"]
        return deps

    def _pip(self, create: bool = False) -> list[str] | None:
        for item in self._conda():
            if isinstance(item, dict) and "pip" in item:
                pip: list[str] = item["pip"]
                return pip
        if not create:
            return None
        pip_list: list[str] = []
        self._conda().append({"pip": pip_list})
        return pip_list

    def add_conda_package(self, conda_package: str) -> None:
        """Add (or replace the version of) a conda package."""
        self.remove_conda_package(_package_name(conda_package))
        index = next((i for i, d in enumerate(self._conda()) if isinstance(d, dict)), None)
        if index is None:
            self._conda().append(conda_package)
        else:
            self._conda().insert(index, conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        name = _package_name(conda_package)
        self._doc["dependencies"] = [
            d for d in self._conda() if not (isinstance(d, str) and _package_name(d) == name)
        ]

    def add_pip_package(self, pip_package: str) -> None:
        """Add (or replace the version of) a pip package."""
        self.remove_pip_package(_package_name(pip_package))
        pip = self._pip(create=True)
        assert pip is not None
        pip.append(pip_package)

    def remove_pip_package(self, pip_package: str) -> None:
        pip = self._pip()
        if pip is not None:
            name = _package_name(pip_package)
            pip[:] = [p for p in pip if p.startswith("-") or _package_name(p) != name]

    def set_pip_option(self, pip_option: str) -> None:
        """A pip option line such as ``--extra-index-url URL`` (kept once)."""
        pip = self._pip(create=True)
        assert pip is not None
        if pip_option not in pip:
            pip.insert(0, pip_option)

    def add_channel(self, channel: str) -> None:
        channels = self._doc.setdefault("channels", [])
        if channel not in channels:
            channels.append(channel)

    def remove_channel(self, channel: str) -> None:
        self._doc["channels"] = [c for c in self._doc.get("channels", []) if c != channel]

    def set_python_version(self, version: str) -> None:
        self.remove_conda_package("python")
        self._conda().insert(0, f"python={version}")

    def add_tensorflow_conda_package(
        self, core_type: str = "cpu", version: str | None = None
    ) -> None:
        if core_type != "cpu":
            warnings.warn(
                f"add_tensorflow_conda_package(core_type={core_type!r}): no GPU here, "
                "the CPU build is used",
                UserWarning,
                stacklevel=2,
            )
        self.add_pip_package(f"tensorflow-cpu=={version}" if version else "tensorflow-cpu")

    # -- reading -------------------------------------------------------------------------
    @property
    def conda_packages(self) -> list[str]:
        return [d for d in self._conda() if isinstance(d, str) and _package_name(d) != "python"]

    @property
    def pip_packages(self) -> list[str]:
        return [p for p in self._pip() or [] if not p.startswith("-")]

    @property
    def conda_channels(self) -> list[str]:
        return list(self._doc.get("channels", []))

    @property
    def pip_options(self) -> list[str]:
        return [p for p in self._pip() or [] if p.startswith("-")]

    def get_python_version(self) -> str | None:
        for item in self._conda():
            if isinstance(item, str) and _package_name(item) == "python":
                return item.split("=", 1)[1].lstrip("=") if "=" in item else None
        return None

    def serialize_to_string(self) -> str:
        return yaml.safe_dump(self._doc, sort_keys=False, default_flow_style=False)

    def save(self, path: str | Path) -> str:
        """Write the document (v1's ``save``/``save_to_file``); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.serialize_to_string(), encoding="utf-8")
        return str(target)

    def save_to_file(self, base_directory: str | Path, conda_file_path: str) -> str:
        return self.save(Path(base_directory) / conda_file_path)

    def to_spec(self, name: str) -> EnvSpec:
        """The environment this document describes (the env.yml parser's rules)."""
        return parse_conda_text(
            self.serialize_to_string(), source=f"{name} (CondaDependencies)", name=name
        )

    @classmethod
    def of_spec(cls, spec: EnvSpec) -> CondaDependencies:
        """A document for a registered environment: its Python, pins and pip options."""
        cd = cls.create(pip_packages=spec.requirements, python_version=spec.python)
        for option in spec.pip_options:
            cd.set_pip_option(option)
        if spec.variables:
            cd._doc["variables"] = dict(spec.variables)
        return cd

    def __repr__(self) -> str:
        return f"CondaDependencies({self._doc!r})"


__all__ = ["CondaDependencies"]
