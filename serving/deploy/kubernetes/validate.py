"""Check manifests against the ``kubernetes`` client's typed models, strictly: an unknown or
misspelled field, a missing required field or a value of the wrong type fails, with the
path of the offending field.

``kubernetes`` 37 and later generate pydantic models that forbid extra fields
(``model_validate`` does the work). Older clients (29 to 36) generate plain classes with
``openapi_types`` and ``attribute_map``; for those each dict is converted recursively and
the constructors are called with only the fields the class knows.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from serving.errors import UserInputError

MODELS: dict[tuple[str, str], str] = {
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
    ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
}
_LIST = re.compile(r"^(?:list|List)\[(.+)\]$")
_DICT = re.compile(r"^(?:dict|Dict)\((?:str), (.+)\)$|^Dict\[str, (.+)\]$")
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
}


class ManifestError(UserInputError):
    """A manifest does not match the Kubernetes API's types."""


def kubernetes_module(name: str) -> Any:
    """A module of the optional ``kubernetes`` client (``kubernetes.client.models``...);
    a UserInputError saying how to install it when it is missing."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise UserInputError(
            "the kubernetes Python client is not installed",
            hint="pip install 'serving[kubernetes]'",
        ) from exc


def _legacy(models: Any, type_name: str, value: Any, path: str) -> Any:
    """Convert ``value`` to ``type_name`` the way the old generated classes expect."""
    if match := _LIST.match(type_name):
        if not isinstance(value, list):
            raise ManifestError(f"{path}: expected a list, got {type(value).__name__}")
        return [_legacy(models, match.group(1), v, f"{path}[{i}]") for i, v in enumerate(value)]
    if match := _DICT.match(type_name):
        if not isinstance(value, dict):
            raise ManifestError(f"{path}: expected a mapping, got {type(value).__name__}")
        inner = match.group(1) or match.group(2)
        return {k: _legacy(models, inner, v, f"{path}.{k}") for k, v in value.items()}
    if type_name == "object":
        return value
    if type_name in _PRIMITIVES:
        ok = isinstance(value, _PRIMITIVES[type_name])
        if not ok or (type_name == "int" and isinstance(value, bool)):
            raise ManifestError(f"{path}: expected {type_name}, got {value!r}")
        return value
    klass = getattr(models, type_name)
    if not isinstance(value, dict):
        raise ManifestError(f"{path}: expected a {type_name} mapping, got {value!r}")
    by_json = {json_key: attr for attr, json_key in klass.attribute_map.items()}
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        if key not in by_json:
            raise ManifestError(f"{path}.{key}: unknown field of {type_name}")
        attr = by_json[key]
        kwargs[attr] = _legacy(models, klass.openapi_types[attr], item, f"{path}.{key}")
    try:
        return klass(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{path}: {exc}") from exc


def _pydantic_errors(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for error in errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)


def validate(manifest: dict[str, Any]) -> Any:
    """The manifest as its typed model; raises :class:`ManifestError` when it does not fit."""
    models = kubernetes_module("kubernetes.client.models")
    key = (str(manifest.get("apiVersion")), str(manifest.get("kind")))
    name = MODELS.get(key)
    if name is None:
        raise ManifestError(f"no typed model for apiVersion {key[0]!r}, kind {key[1]!r}")
    where = f"{key[1]} {manifest.get('metadata', {}).get('name', '?')}"
    klass = getattr(models, name)
    if hasattr(klass, "model_validate"):
        try:
            return klass.model_validate(manifest)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise ManifestError(f"{where}: {_pydantic_errors(exc)}") from exc
    return _legacy(models, name, manifest, where)


def validate_all(manifests: list[dict[str, Any]]) -> list[Any]:
    return [validate(m) for m in manifests]
