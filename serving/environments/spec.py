"""The resolved, pip-installable description of one deployment environment."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from serving.environments.runtime import RUNTIME_REQUIREMENTS, RUNTIME_VERSION
from serving.errors import EnvironmentSpecError

_HASH_SCHEMA = 1
_SOURCE_FORMATS = ("conda", "pip")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What an environment variable name may be (checked with ``fullmatch``): it goes unquoted
into Dockerfile ``ENV`` lines and Kubernetes manifests."""


def check_variable(name: str, value: str, source: str = "environment") -> None:
    """Raise a one-line :class:`EnvironmentSpecError` for a name that is not a plain
    identifier, or a value no process environment can hold (a NUL character)."""
    if not VARIABLE_NAME.fullmatch(name):
        raise EnvironmentSpecError(
            f"{source}: invalid variable name {name!r} in variables:",
            hint="use letters, digits and '_', not starting with a digit",
        )
    if "\0" in value:
        raise EnvironmentSpecError(f"{source}: variable {name} has a NUL character in its value")


@dataclass(frozen=True)
class EnvSpec:
    """A parsed environment: a Python version and canonical pip requirement lines.

    Build it with :func:`serving.environments.parse_conda_file` or
    :func:`serving.environments.parse_pip_requirements_file`; the parsers canonicalise
    and sort every field, so equal environments compare (and hash) equal.

    Variables are checked (:func:`check_variable`) where a spec comes from user input:
    the parsers, and a spec built directly (SDK code). A spec read back from a registry
    record (:meth:`from_dict`) is not, so a record stored before the check was added
    still loads (``check=False``).
    """

    name: str
    python: str
    """Major.minor, e.g. ``"3.11"``."""
    requirements: tuple[str, ...] = ()
    """Canonical pip requirement lines (PEP 503 names, normalised specifiers), sorted."""
    pip_options: tuple[str, ...] = ()
    """pip option lines such as ``--extra-index-url URL``, in file order."""
    variables: tuple[tuple[str, str], ...] = ()
    """Environment variables from the conda file's ``variables:`` mapping, sorted."""
    channels: tuple[str, ...] = ()
    """Conda channels as written (informational: pip does not use them)."""
    replaced: tuple[str, ...] = ()
    """Azure ML meta-packages dropped because the serving runtime replaces them."""
    notices: tuple[str, ...] = ()
    """Human-readable notes about what the parser changed or dropped."""
    source_format: str = "conda"
    """``"conda"`` or ``"pip"``: the kind of file this was parsed from."""
    base_image: str | None = None
    """A base image for this environment's images (v1's ``env.docker.base_image``); None:
    the platform's (``SERVING_BASE_IMAGE`` or the bootstrapped one). Local venvs ignore it."""
    docker_steps: tuple[str, ...] = ()
    """Dockerfile lines run (as root) on top of this environment's image (v1's
    ``extra_docker_file_steps`` and the steps of ``env.docker.base_dockerfile``)."""
    check: InitVar[bool] = True
    """Check the variables (False: a stored record, accepted when it was written)."""

    def __post_init__(self, check: bool) -> None:
        if check:
            for key, value in self.variables:
                check_variable(key, value)

    def _hashed_fields(self) -> dict[str, Any]:
        return {
            "schema": _HASH_SCHEMA,
            "runtime": [RUNTIME_VERSION, *RUNTIME_REQUIREMENTS],
            "python": self.python,
            "requirements": list(self.requirements),
            "pip_options": list(self.pip_options),
            "variables": [list(item) for item in self.variables],
            **({"base_image": self.base_image} if self.base_image else {}),
            **({"docker_steps": list(self.docker_steps)} if self.docker_steps else {}),
        }

    def content_hash(self) -> str:
        """sha256 (hex) of what determines the built environment.

        Covers the Python version, requirements, pip options, variables and the serving
        runtime; not the name, channels, notices or source format, so the same
        environment written two ways hashes the same.
        """
        text = json.dumps(self._hashed_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of :meth:`content_hash`."""
        return self.content_hash()[:12]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` reads it back."""
        return {
            "name": self.name,
            "python": self.python,
            "requirements": list(self.requirements),
            "pip_options": list(self.pip_options),
            "variables": {key: value for key, value in self.variables},
            "channels": list(self.channels),
            "replaced": list(self.replaced),
            "notices": list(self.notices),
            "source_format": self.source_format,
            **({"base_image": self.base_image} if self.base_image else {}),
            **({"docker_steps": list(self.docker_steps)} if self.docker_steps else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, trusted: bool = True) -> EnvSpec:
        """Rebuild a spec from :meth:`to_dict` output (e.g. a registry record).

        ``trusted`` (the default, for records): variable names are not checked, so a
        record stored when a name was still accepted lists and loads; False checks them
        as for user input.
        """
        try:
            variables = data.get("variables") or {}
            if not isinstance(variables, Mapping):
                raise TypeError("variables must be a mapping")
            spec = cls(
                name=_str(data["name"]),
                python=_str(data["python"]),
                requirements=_strs(data.get("requirements", ())),
                pip_options=_strs(data.get("pip_options", ())),
                variables=tuple(sorted((_str(k), _str(v)) for k, v in variables.items())),
                channels=_strs(data.get("channels", ())),
                replaced=_strs(data.get("replaced", ())),
                notices=_strs(data.get("notices", ())),
                source_format=_str(data.get("source_format", "conda")),
                base_image=_str(data["base_image"]) if data.get("base_image") else None,
                docker_steps=tuple(_str(x) for x in data.get("docker_steps") or ()),
                check=not trusted,
            )
        except (KeyError, TypeError) as exc:
            raise EnvironmentSpecError(f"invalid stored environment spec: {exc}") from exc
        if spec.source_format not in _SOURCE_FORMATS:
            raise EnvironmentSpecError(
                f"invalid stored environment spec: unknown source_format {spec.source_format!r}"
            )
        return spec


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _strs(values: object) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise TypeError(f"expected a list of strings, got {values!r}")
    return tuple(_str(v) for v in values)


def requirement_names(spec: EnvSpec) -> set[str]:
    """The canonical project names an environment requires (pip option lines skipped)."""
    names: set[str] = set()
    for line in spec.requirements:
        try:
            names.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
    return names
