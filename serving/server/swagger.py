"""The ``/swagger.json`` documents: the user's files if present, else generated.

Generated documents follow azmlinfsrv's templates: title SERVICE_NAME, an apiKey scheme
``Bearer`` on the Authorization header, paths ``<prefix>/``, ``<prefix>/score`` and
``<prefix>/swagger.json``, and ``ServiceInput``/``ServiceOutput`` from the inference-schema
decorators (``{"type": "object", "example": {}}`` for an undecorated run()).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
) -> SwaggerDocs:
    """Read user swagger files from ``app_root`` or generate the documents for ``run``."""
    from inference_schema.schema_util import (
        get_input_schema,
        get_output_schema,
        get_supported_versions,
        is_schema_decorated,
    )

    if is_schema_decorated(run):
        schemas = (get_input_schema(run), get_output_schema(run))
        supported = set(get_supported_versions(run))
    else:
        schemas, supported = (_EMPTY, _EMPTY), {"2.0", "3.0", "3.1"}
    prefix = f"/{path_prefix.strip('/')}" if path_prefix.strip("/") else ""
    docs: dict[str, dict[str, Any]] = {}
    for version, aliases in VERSIONS.items():
        user = _read_user_file(app_root, _USER_FILES[version])
        if user is not None:
            docs[version] = user
        elif any(alias in supported for alias in aliases):
            doc = _swagger2 if version == "2" else _openapi3
            docs[version] = doc(title, service_version, prefix, *schemas)
            if version == "3.1":
                docs[version]["openapi"] = "3.1.0"
    return SwaggerDocs(docs)


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


def _info(title: str, version: str) -> dict[str, str]:
    return {
        "title": title,
        "description": f"API specification for the Azure Machine Learning service {title}",
        "version": version,
    }


def _swagger2(
    title: str, version: str, prefix: str, service_in: Any, service_out: Any
) -> dict[str, Any]:
    return {
        "swagger": "2.0",
        "info": _info(title, version),
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": _BEARER},
        "paths": _paths(prefix, v3=False),
        "definitions": {
            "ServiceInput": service_in,
            "ServiceOutput": service_out,
            "ErrorResponse": _ERROR,
        },
    }


def _openapi3(
    title: str, version: str, prefix: str, service_in: Any, service_out: Any
) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": _info(title, version),
        "security": [{"Bearer": []}],
        "paths": _paths(prefix, v3=True),
        "components": {
            "schemas": {
                "ServiceInput": service_in,
                "ServiceOutput": service_out,
                "ErrorResponse": _ERROR,
            },
            "securitySchemes": {"Bearer": _BEARER},
        },
    }


def _schema(v3: bool, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}" if v3 else f"#/definitions/{name}"}


def _response(
    v3: bool, description: str, schema: dict[str, Any], media: str = "application/json"
) -> dict[str, Any]:
    if v3:
        return {"description": description, "content": {media: {"schema": schema}}}
    return {"description": description, "schema": schema}


def _paths(prefix: str, *, v3: bool) -> dict[str, Any]:
    """The three paths of azmlinfsrv's templates, in Swagger 2 or OpenAPI 3 form."""
    default = _response(
        v3, "The service failed to execute due to an error.", _schema(v3, "ErrorResponse")
    )
    healthy = _response(v3, _HEALTHY, {"type": "string", "example": "Healthy"}, "text/plain")
    if not v3:
        healthy = {
            "description": _HEALTHY,
            "schema": {"type": "string"},
            "examples": {"application/json": "Healthy"},
        }
    version_param: dict[str, Any] = {"name": "version", "in": "query", "required": False}
    version_type = {"type": "integer", "enum": [2, 3]}
    version_param.update({"schema": version_type} if v3 else version_type)
    score: dict[str, Any] = {**_SCORE_OP, "security": [{"Bearer": []}]}
    if v3:
        score["requestBody"] = {
            "description": _PAYLOAD,
            "content": {"application/json": {"schema": _schema(v3, "ServiceInput")}},
        }
    else:
        score["parameters"] = [
            {
                "name": "serviceInputPayload",
                "in": "body",
                "description": _PAYLOAD,
                "schema": _schema(v3, "ServiceInput"),
            }
        ]
    score["responses"] = {
        "200": _response(v3, _SCORED, _schema(v3, "ServiceOutput")),
        "default": default,
    }
    spec = _response(v3, "The Swagger specification.", {"type": "string"}, "text/plain")
    return {
        f"{prefix}/": {"get": {**_HEALTH_OP, "responses": {"200": healthy, "default": default}}},
        f"{prefix}/score": {"post": score},
        f"{prefix}/swagger.json": {
            "get": {
                **_SWAGGER_OP,
                "parameters": [version_param],
                "responses": {"200": spec, "default": default},
            }
        },
    }


_BEARER = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "For example: Bearer abc123",
}
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
