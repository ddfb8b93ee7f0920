"""The ``/swagger.json`` documents: the user's files if present, else generated.

Generated documents follow azmlinfsrv's templates: title SERVICE_NAME, paths ``<prefix>/``,
``<prefix>/score`` and ``<prefix>/swagger.json``, and ``ServiceInput``/``ServiceOutput`` from
the inference-schema decorators (``{"type": "object", "example": {}}`` for an undecorated
run()). They describe what the server really does: the apiKey scheme ``Bearer`` on the
Authorization header (and the 401 answer) only when the endpoint checks keys, and then only
on the two operations that need one; ``ServiceInput`` lists as required the run()
parameters without a default (a body without one gets 400); the swagger operation answers
JSON and accepts exactly the ``version`` values it serves. A no-code deployment's
``ServiceInput`` is ``{"data": [row, ...]}`` with rows shaped like its model's first input
(its shape after the batch axis) and an example of one row of zeros, a valid request.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from serving.scoring.loader import HEADERS_PARAM
from serving.scoring.tensors import TensorSpec

_log = logging.getLogger("serving.server.swagger")

VERSIONS: dict[str, tuple[str, ...]] = {"2": ("2", "2.0"), "3": ("3", "3.0"), "3.1": ("3.1",)}
"""Document version -> the ``?version=`` values that select it."""

_USER_FILES: dict[str, tuple[str, ...]] = {
    "2": ("swagger.json", "swagger2.json"),
    "3": ("swagger3.json",),
    "3.1": ("swagger3.1.json",),
}
_ERROR = {"type": "object", "properties": {"message": {"type": "string"}}}
_EMPTY = {"type": "object", "example": {}}
_OBJECT = {"type": "object"}


class SwaggerNotFound(Exception):
    """The requested version is not valid or not available; the message is for the client."""


class SwaggerDocs:
    """The documents of one entry script, built once."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self._docs = docs
        self.versions = sorted(docs)

    def get(self, requested: str) -> dict[str, Any]:
        """The document for a ``?version=`` value; raises :class:`SwaggerNotFound`."""
        version = next((v for v, aliases in VERSIONS.items() if requested in aliases), None)
        if version is None:
            raise SwaggerNotFound(
                f"Swagger version [{requested}] is not valid. "
                f"Supported versions: [{', '.join(self.versions)}]."
            )
        if version not in self._docs:
            raise SwaggerNotFound(
                f"Swagger version [{requested}] is not supported for the scoring script. "
                f"Supported swagger versions: [{', '.join(self.versions)}]."
            )
        return self._docs[version]


def build_swagger(
    run: Callable[..., object],
    app_root: Path,
    *,
    title: str,
    service_version: str,
    path_prefix: str,
    auth: bool = False,
    tensor_inputs: tuple[TensorSpec, ...] | None = None,
) -> SwaggerDocs:
    """Read user swagger files from ``app_root`` or generate the documents for ``run``.

    ``auth``: the endpoint checks bearer keys on ``/score`` and ``/swagger.json``.
    ``tensor_inputs``: a no-code deployment's model inputs (they describe ``/score``).
    """
    from inference_schema.schema_util import (
        get_input_schema,
        get_output_schema,
        get_supported_versions,
        is_schema_decorated,
    )

    schemas: tuple[Any, Any]
    if tensor_inputs:
        schemas, supported = (nocode_input(tensor_inputs[0]), _OBJECT), {"2.0", "3.0", "3.1"}
    elif is_schema_decorated(run):
        service_in = _with_required(get_input_schema(run), _required_params(run))
        schemas = (service_in, get_output_schema(run))
        supported = set(get_supported_versions(run))
    else:
        schemas, supported = (_EMPTY, _EMPTY), {"2.0", "3.0", "3.1"}
    prefix = f"/{path_prefix.strip('/')}" if path_prefix.strip("/") else ""
    users = {version: _read_user_file(app_root, _USER_FILES[version]) for version in VERSIONS}
    served = [
        v
        for v, aliases in VERSIONS.items()
        if users[v] is not None or any(a in supported for a in aliases)
    ]
    shape = _Shape(prefix, auth, tuple(a for v in served for a in VERSIONS[v]))
    docs: dict[str, dict[str, Any]] = {}
    for version in served:
        user = users[version]
        if user is not None:
            docs[version] = user
            continue
        doc = _swagger2 if version == "2" else _openapi3
        docs[version] = doc(title, service_version, shape, *schemas)
        if version == "3.1":
            docs[version]["openapi"] = "3.1.0"
    return SwaggerDocs(docs)


_JSON_TYPES = {"BOOL": "boolean", "BYTES": "string", "FP16": "number", "FP32": "number"}


def nocode_input(spec: TensorSpec) -> dict[str, Any]:
    """The no-code ``/score`` body for a model input: ``{"data": [row, ...]}``, each row
    shaped like ``spec.shape[1:]`` (-1: any length), with a one-row example of zeros."""
    kind = _JSON_TYPES.get(spec.datatype, "number" if spec.datatype == "FP64" else "integer")
    item: dict[str, Any] = {"type": kind}
    zero: Any = {"boolean": False, "string": "", "number": 0.0}.get(kind, 0)
    for dim in reversed(spec.shape[1:]):
        item = {"type": "array", "items": item}
        if dim >= 0:
            item["minItems"] = item["maxItems"] = dim
        zero = [zero] * (dim if dim > 0 else 1)
    rows = {"type": "array", "items": item, "minItems": 1}
    return {
        "type": "object",
        "properties": {"data": rows},
        "required": ["data"],
        "example": {"data": [zero]},
    }


def _required_params(run: Callable[..., object]) -> list[str]:
    """run()'s input parameters without a default: a request without one gets 400."""
    try:
        params = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in params
        if p.name != HEADERS_PARAM
        and p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def _with_required(schema: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A copy of inference-schema's input schema (a shared registry entry) with ``required``."""
    schema = copy.deepcopy(schema)
    names = [name for name in required if name in schema.get("properties", {})]
    if names:
        schema["required"] = names
    return schema


def _read_user_file(app_root: Path, names: tuple[str, ...]) -> dict[str, Any] | None:
    for name in names:
        path = app_root / name
        if path.is_file():
            try:
                with path.open(encoding="utf-8") as file:
                    data: dict[str, Any] = json.load(file)
            except ValueError as exc:
                _log.error("Ignoring the user's swagger file %s: not valid JSON (%s)", path, exc)
                continue
            _log.info("Serving the user's swagger file %s", path)
            return data
    return None


class _Shape(NamedTuple):
    """What the generated paths depend on besides the schemas."""

    prefix: str
    auth: bool
    versions: tuple[str, ...]
    """The ``?version=`` values the swagger operation serves."""


def _info(title: str, version: str) -> dict[str, str]:
    return {
        "title": title,
        "description": f"API specification for the Azure Machine Learning service {title}",
        "version": version,
    }


def _definitions(service_in: Any, service_out: Any) -> dict[str, Any]:
    """The named schemas: ``definitions`` in Swagger 2, ``components.schemas`` in OpenAPI 3."""
    return {"ServiceInput": service_in, "ServiceOutput": service_out, "ErrorResponse": _ERROR}


def _swagger2(
    title: str, version: str, shape: _Shape, service_in: Any, service_out: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "swagger": "2.0",
        "info": _info(title, version),
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": _paths(shape, v3=False),
        "definitions": _definitions(service_in, service_out),
    }
    if shape.auth:
        doc["securityDefinitions"] = {"Bearer": _BEARER}
    return doc


def _openapi3(
    title: str, version: str, shape: _Shape, service_in: Any, service_out: Any
) -> dict[str, Any]:
    components: dict[str, Any] = {"schemas": _definitions(service_in, service_out)}
    if shape.auth:
        components["securitySchemes"] = {"Bearer": _BEARER}
    return {
        "openapi": "3.0.3",
        "info": _info(title, version),
        "paths": _paths(shape, v3=True),
        "components": components,
    }


def _schema(v3: bool, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}" if v3 else f"#/definitions/{name}"}


def _response(
    v3: bool, description: str, schema: dict[str, Any], media: str = "application/json"
) -> dict[str, Any]:
    if v3:
        return {"description": description, "content": {media: {"schema": schema}}}
    return {"description": description, "schema": schema}


def _error_responses(v3: bool, auth: bool, *extra: tuple[str, str]) -> dict[str, Any]:
    """The documented error answers (all ``{"message": ...}``), then ``default``."""
    error = _schema(v3, "ErrorResponse")
    codes = [*extra, ("401", _UNAUTHORIZED)] if auth else list(extra)
    responses = {code: _response(v3, text, error) for code, text in codes}
    responses["default"] = _response(v3, "The service failed to execute due to an error.", error)
    return responses


def _paths(shape: _Shape, *, v3: bool) -> dict[str, Any]:
    """The three paths of azmlinfsrv's templates, in Swagger 2 or OpenAPI 3 form."""
    secured: dict[str, Any] = {"security": [{"Bearer": []}]} if shape.auth else {}
    # "Healthy" is sent as text/html, as azmlinfsrv (Flask's default for a str) does
    healthy = _response(v3, _HEALTHY, {"type": "string", "example": "Healthy"}, "text/html")
    if not v3:
        healthy = {"description": _HEALTHY, "schema": {"type": "string"}}
    health = {**_HEALTH_OP, "responses": {"200": healthy, **_error_responses(v3, False)}}
    if not v3:
        health["produces"] = ["text/html", "application/json"]
    score: dict[str, Any] = {**_SCORE_OP, **secured}
    if v3:
        score["requestBody"] = {
            "description": _PAYLOAD,
            "required": True,
            "content": {"application/json": {"schema": _schema(v3, "ServiceInput")}},
        }
    else:
        score["parameters"] = [
            {
                "name": "serviceInputPayload",
                "in": "body",
                "required": True,
                "description": _PAYLOAD,
                "schema": _schema(v3, "ServiceInput"),
            }
        ]
    score["responses"] = {
        "200": _response(v3, _SCORED, _schema(v3, "ServiceOutput")),
        **_error_responses(v3, shape.auth, ("400", _BAD_INPUT)),
    }
    return {
        f"{shape.prefix}/": {"get": health},
        f"{shape.prefix}/score": {"post": score},
        f"{shape.prefix}/swagger.json": {"get": _swagger_op(shape, v3, secured)},
    }


def _swagger_op(shape: _Shape, v3: bool, secured: dict[str, Any]) -> dict[str, Any]:
    version_param: dict[str, Any] = {"name": "version", "in": "query", "required": False}
    version_type = {"type": "string", "enum": list(shape.versions)}
    version_param.update({"schema": version_type} if v3 else version_type)
    spec = _response(v3, "The Swagger specification.", {"type": "object"})
    unknown = ("404", "The version is not valid or not available for this scoring script.")
    return {
        **_SWAGGER_OP,
        **secured,
        "parameters": [version_param],
        "responses": {"200": spec, **_error_responses(v3, shape.auth, unknown)},
    }


_BEARER = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "For example: Bearer abc123",
}
_UNAUTHORIZED = "No valid key: send 'Authorization: Bearer <key>'."
_BAD_INPUT = "The request body cannot be bound to run()'s parameters."
_HEALTHY = "If service is up and running, this response will be returned with the content 'Healthy'"
_PAYLOAD = "The input payload for executing the real-time machine learning service."
_SCORED = (
    "The service processed the input correctly and provided a result prediction, if applicable."
)
_HEALTH_OP = {
    "operationId": "ServiceHealthCheck",
    "description": "Simple health check endpoint to ensure the service is up at any given point.",
}
_SCORE_OP = {
    "operationId": "RunMLService",
    "description": "Run web service's model and get the prediction output",
}
_SWAGGER_OP = {"operationId": "GetSwaggerSpec", "description": "Get the Swagger specification."}
