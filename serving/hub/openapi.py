"""The OpenAPI 3.1 document of the workspace server's API, written as data.

Written by hand rather than generated: the routes are plain Flask views (no schema
library behind them), and the generators that read Flask views (apispec, flask-smorest)
would need every route rewritten around marshmallow schemas. The tests validate real
responses of every route against this document with openapi-core, so it cannot drift.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from serving import __version__
from serving.hub.openapi_schemas import JSON, Schema, nullable, obj, page, ref, schemas


def _param(name: str, where: str = "query", kind: str = "string", **extra: Any) -> Schema:
    schema: Schema = {"type": kind} | extra.pop("schema", {})
    return {"name": name, "in": where, "required": where == "path", "schema": schema} | extra


def _path(*names: str) -> list[Schema]:
    return [_param(name, "path") for name in names]


_PAGING = [
    _param("limit", kind="integer", schema={"minimum": 1, "maximum": 1000}),
    _param("after", description="the `next` token of the previous page"),
]
_VERSION = _param("version", "path", schema={"pattern": "^([0-9]+|latest)$"})
_ERRORS = {
    "default": {
        "description": "an error (400 bad input, 401 no/bad token, 403 read-only token, "
        "404 unknown, 409 conflict, 5xx server)",
        "content": {JSON: {"schema": ref("Error")}},
    }
}


def _op(summary: str, ok: Schema | None, params: Sequence[Schema] = (), **extra: Any) -> Schema:
    """One operation answering ``ok`` (a JSON schema; None: a binary stream of the media
    types ``binary`` lists)."""
    status = extra.pop("status", "200")
    also = {
        code: {"description": summary, "content": {JSON: {"schema": schema}}}
        for code, schema in extra.pop("also", {}).items()
    }
    content = (
        {JSON: {"schema": ok}}
        if ok is not None
        else {kind: {"schema": {}} for kind in extra.pop("binary", ["application/octet-stream"])}
    )
    return {
        "summary": summary,
        "operationId": extra.pop("operation_id"),
        "parameters": list(params),
        "responses": {status: {"description": summary, "content": content}} | also | _ERRORS,
        **extra,
    }


def _run_paths() -> dict[str, Schema]:
    run = _path("run_id")
    return {
        "/experiments": {
            "get": _op(
                "List experiments",
                obj({"items": {"type": "array", "items": ref("Experiment")}}),
                operation_id="listExperiments",
            )
        },
        "/runs": {
            "get": _op(
                "List runs, newest first, paged",
                page("Run"),
                [
                    _param("experiment"),
                    _param("status"),
                    _param("parent"),
                    _param(
                        "children",
                        kind="boolean",
                        description="with child runs too (sweep trials, pipeline steps)",
                    ),
                    _param("target", description="compute target"),
                    _param("sort", schema={"enum": ["-created_at", "created_at"]}),
                    *_PAGING,
                ],
                operation_id="listRuns",
            )
        },
        "/runs/{run_id}": {"get": _op("Show a run", ref("Run"), run, operation_id="getRun")},
        "/runs/{run_id}/metrics": {
            "get": _op(
                "Metrics: numeric series downsampled (min, max, last kept), other values as "
                "get_metrics()",
                ref("Metrics"),
                [
                    *run,
                    _param("name"),
                    _param("max_points", kind="integer", schema={"minimum": 3, "maximum": 100000}),
                    _param(
                        "all_values",
                        kind="boolean",
                        description="values: every name in get_metrics() shapes, whole",
                    ),
                ],
                operation_id="getRunMetrics",
            )
        },
        "/runs/{run_id}/log": {
            "get": _op(
                "The run's log from a byte offset (at most 1 MiB)",
                ref("Log"),
                [
                    *run,
                    _param("offset", kind="integer", schema={"minimum": 0}),
                    _param("which", schema={"enum": ["user", "system"]}),
                ],
                operation_id="getRunLog",
            )
        },
        "/runs/{run_id}/files": {
            "get": _op("The run's files", ref("Files"), run, operation_id="listRunFiles")
        },
        "/runs/{run_id}/file": {
            "get": _op(
                "Download one file of the run",
                None,
                [*run, _param("name", required=True)],
                operation_id="downloadRunFile",
            )
        },
        "/runs/{run_id}/cancel": {
            "post": _op(
                "Cancel the run and its children", ref("Run"), run, operation_id="cancelRun"
            )
        },
    }


def _body(kind: str, schema: Schema) -> Schema:
    return {"required": True, "content": {kind: {"schema": schema}}}


def _run_write_ops() -> dict[str, dict[str, Schema]]:
    """The run writes (:mod:`serving.hub.api_run_writes`), by path then method."""
    run, text, free = _path("run_id"), {"type": "string"}, {"type": "object"}
    binary = {"type": "string", "format": "binary"}
    tar = {"application/x-tar": {"schema": binary}}
    written = obj({"items": {"type": "array", "items": text}})
    return {
        "/experiments/{name}/runs": {
            "post": _op(
                "Submit a script run (a tar of job.json and source/; it runs on the server's "
                "machine), a HyperDrive sweep (job.json kind 'hyperdrive': job, sweep, "
                "run_id) or a pipeline (kind 'pipeline': pipeline, options, display_name; "
                "its steps' folders as source/<n>/), or start an interactive or child run "
                "(JSON)",
                ref("Run"),
                _path("name"),
                requestBody={
                    "required": True,
                    "content": tar
                    | {
                        JSON: {
                            "schema": obj(
                                {}, parent_id=nullable("string"), display_name=nullable("string")
                            )
                        }
                    },
                },
                status="201",
                operation_id="submitRun",
            )
        },
        "/runs/{run_id}": {
            "patch": _op(
                "Add or remove tags, add properties (write-once)",
                ref("Run"),
                run,
                requestBody=_body(
                    JSON,
                    {
                        "type": "object",
                        "properties": {
                            "add_tags": free,
                            "remove_tags": {"type": "array", "items": text},
                            "add_properties": free,
                        },
                    },
                ),
                operation_id="updateRun",
            )
        },
        "/runs/{run_id}/metrics": {
            "post": _op(
                "Append a batch of metric records (JSON lines)",
                obj({"appended": {"type": "integer"}}),
                run,
                requestBody=_body("application/x-ndjson", text),
                operation_id="appendRunMetrics",
            )
        },
        "/runs/{run_id}/files": {
            "post": _op(
                "Upload a file (octet-stream) or a folder (tar) as the run's files under name",
                written,
                [*run, _param("name", required=True)],
                requestBody={
                    "required": True,
                    "content": {"application/octet-stream": {"schema": binary}} | tar,
                },
                status="201",
                operation_id="uploadRunFiles",
            )
        },
        "/runs/{run_id}/status": {
            "post": _op(
                "End an interactive or child run (Completed or Failed)",
                ref("Run"),
                run,
                requestBody=_body(
                    JSON,
                    obj({"status": {"enum": ["Completed", "Failed"]}}, error=nullable("object")),
                ),
                operation_id="endRun",
            )
        },
        "/runs/{run_id}/register": {
            "post": _op(
                "Register a file or folder of the run's files as a model version",
                ref("Model"),
                run,
                requestBody=_body(
                    JSON,
                    obj(
                        {"model_name": text},
                        model_path=text,
                        tags=free,
                        properties=free,
                        description=nullable("string"),
                        model_framework=nullable("string"),
                        model_framework_version=nullable("string"),
                    ),
                ),
                status="201",
                operation_id="registerRunModel",
            )
        },
    }


def _with_run_writes(paths: dict[str, Schema]) -> dict[str, Schema]:
    for path, ops in _run_write_ops().items():
        paths[path] = {**paths.get(path, {}), **ops}
    return paths


def _model_paths() -> dict[str, Schema]:
    model = [*_path("name"), _VERSION]
    upload = {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/x-tar": {"schema": {"type": "string", "format": "binary"}},
        },
    }
    update = {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "add_tags": {"type": "object"},
                        "add_properties": {"type": "object"},
                        "remove_tags": {"type": "array", "items": {"type": "string"}},
                        "description": {"type": "string"},
                    },
                }
            }
        },
    }
    return {
        "/models": {
            "get": _op(
                "List models, newest first",
                page("Model"),
                [
                    _param("name"),
                    _param(
                        "tag",
                        kind="array",
                        schema={"items": {"type": "string"}},
                        explode=True,
                        description="K=V or K, repeatable",
                    ),
                    _param("latest", kind="boolean"),
                    _param("run_id", description="models registered from this run"),
                    *_PAGING,
                ],
                operation_id="listModels",
            )
        },
        "/models/{name}": {
            "post": _op(
                "Register the body (a file, or a folder as a tar) as the next version",
                ref("Model"),
                [
                    *_path("name"),
                    _param("filename", required=True),
                    _param("framework"),
                    _param("framework_version"),
                    _param("description"),
                    _param("run_id"),
                    _param("tag", kind="array", schema={"items": {"type": "string"}}),
                    _param("property", kind="array", schema={"items": {"type": "string"}}),
                ],
                requestBody=upload,
                status="201",
                operation_id="registerModel",
            )
        },
        "/models/{name}/{version}": {
            "get": _op("Show a model version", ref("Model"), model, operation_id="getModel"),
            "patch": _op(
                "Change tags, description; add properties",
                ref("Model"),
                model,
                requestBody=update,
                operation_id="updateModel",
            ),
            "delete": _op(
                "Delete a model version",
                ref("Model"),
                [*model, _param("force", kind="boolean")],
                operation_id="deleteModel",
            ),
        },
        "/models/{name}/{version}/download": {
            "get": _op(
                "Download the model: the file, or a folder model as a tar stream",
                None,
                model,
                binary=["application/octet-stream", "application/x-tar"],
                operation_id="downloadModel",
            )
        },
        "/models/{name}/{version}/file": {
            "get": _op(
                "Download one file of a model",
                None,
                [*model, _param("path", required=True)],
                operation_id="downloadModelFile",
            )
        },
    }


_ENV_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": obj(
                {"spec": {"type": "object"}},
                source_text={"type": "string"},
                source_name={"type": "string"},
            )
        }
    },
}


def _other_paths() -> dict[str, Schema]:
    versioned = [*_path("name"), _VERSION]
    endpoint = _path("name")
    return {
        "/environments": {
            "get": _op(
                "List environments",
                page("Environment"),
                [_param("name"), _param("latest", kind="boolean"), *_PAGING],
                operation_id="listEnvironments",
            )
        },
        "/environments/{name}": {
            "post": _op(
                "Register an environment (a new version unless the latest has the same "
                "content: 201 new, 200 unchanged)",
                ref("Environment"),
                _path("name"),
                requestBody=_ENV_BODY,
                status="201",
                operation_id="registerEnvironment",
                also={"200": ref("Environment")},
            )
        },
        "/environments/{name}/{version}": {
            "get": _op(
                "Show an environment", ref("Environment"), versioned, operation_id="getEnvironment"
            )
        },
        "/images": {
            "get": _op(
                "List built images",
                page("Image"),
                [_param("name"), *_PAGING],
                operation_id="listImages",
            )
        },
        "/images/{name}/{version}": {
            "get": _op(
                "Show an image ('/' in its name sent as %2F)",
                ref("Image"),
                versioned,
                operation_id="getImage",
            )
        },
        "/endpoints": {
            "get": _op(
                "List endpoints with their observed state",
                page("Endpoint"),
                _PAGING,
                operation_id="listEndpoints",
            )
        },
        "/endpoints/{name}": {
            "get": _op("Show an endpoint", ref("Endpoint"), endpoint, operation_id="getEndpoint")
        },
        "/endpoints/{name}/logs": {
            "get": _op(
                "The endpoint's log tail",
                ref("Text"),
                [*endpoint, _param("tail", kind="integer"), _param("replica")],
                operation_id="getEndpointLogs",
            )
        },
        "/endpoints/{name}/keys": {
            "get": _op(
                "The endpoint's keys (read-write tokens only)",
                ref("Keys"),
                endpoint,
                operation_id="getEndpointKeys",
            )
        },
        "/workspace": {
            "get": _op(
                "The workspace's name and how many models, environments and endpoints it holds",
                ref("Workspace"),
                operation_id="getWorkspace",
            )
        },
        "/openapi.json": {
            "get": _op(
                "This document (no token needed)",
                {"type": "object"},
                security=[],
                operation_id="getOpenAPI",
            )
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "serving workspace server", "version": __version__},
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}],
        "paths": _with_run_writes(_run_paths() | _model_paths() | _other_paths()),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }
