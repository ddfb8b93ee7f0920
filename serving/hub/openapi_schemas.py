"""The component schemas of the workspace server's OpenAPI document (what each route
answers), and the small constructors the document is written with."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def obj(required: dict[str, Schema], **optional: Schema) -> Schema:
    return {"type": "object", "required": list(required), "properties": required | optional}


def page(item: str) -> Schema:
    return obj({"items": {"type": "array", "items": ref(item)}, "next": nullable("string")})


def schemas() -> dict[str, Schema]:
    text, free, count = {"type": "string"}, {"type": "object"}, {"type": "integer"}
    return {
        "Error": obj({"error": obj({"code": text, "message": text}, hint=text)}),
        "Experiment": obj(
            {
                "name": text,
                "created_at": text,
                "tags": free,
                "runs": {"type": "integer"},
                "last_run": nullable("string"),
            }
        ),
        "Run": obj(
            {
                "id": text,
                "experiment": text,
                "number": {"type": "integer"},
                "parent_id": nullable("string"),
                "kind": text,
                "status": text,
                "target": text,
                "display_name": nullable("string"),
                "tags": free,
                "properties": free,
                "error": nullable("object"),
                "warnings": {"type": "array"},
                "created_at": text,
                "started_at": nullable("string"),
                "ended_at": nullable("string"),
            },
            definition=free,
            children={"type": "array", "items": text},
        ),
        "Series": obj(
            {
                "count": {"type": "integer"},
                "min": nullable("number"),
                "max": nullable("number"),
                "last": obj({"step": {}, "value": nullable("number"), "time": {"type": "number"}}),
                "points": {
                    "type": "array",
                    "items": {"type": "array", "minItems": 3, "maxItems": 3},
                },
            }
        ),
        "Metrics": obj(
            {"series": {"type": "object", "additionalProperties": ref("Series")}, "values": free}
        ),
        "Log": obj(
            {
                "offset": {"type": "integer"},
                "next_offset": {"type": "integer"},
                "size": {"type": "integer"},
                "text": text,
                "ended": {"type": "boolean"},
            }
        ),
        "Files": obj(
            {
                "items": {
                    "type": "array",
                    "items": obj({"name": text, "size_bytes": {"type": "integer"}}),
                }
            }
        ),
        "Model": obj(
            {
                "name": text,
                "version": {"type": "integer"},
                "kind": {"enum": ["file", "dir"]},
                "path": text,
                "framework": text,
                "tags": free,
                "properties": free,
                "size_bytes": {"type": "integer"},
                "created_at": text,
                "files": {
                    "type": "array",
                    "items": obj({"path": text, "sha256": text, "size_bytes": {"type": "integer"}}),
                },
            },
            endpoints={"type": "array", "items": text},
            run_id=nullable("string"),
            description=nullable("string"),
        ),
        "Environment": obj(
            {
                "name": text,
                "version": {"type": "integer"},
                "python": text,
                "requirements": {"type": "array"},
                "created_at": text,
            }
        ),
        "Image": obj({"name": text, "version": {"type": "integer"}, "tag": text}),
        "Endpoint": obj(
            {
                "name": text,
                "state": text,
                "target": text,
                "scoring_uri": nullable("string"),
                "models": {"type": "array", "items": text},
                "auth_enabled": {"type": "boolean"},
            }
        ),
        "Keys": obj(
            {"name": text, "primary_key": nullable("string"), "secondary_key": nullable("string")}
        ),
        "Text": obj({"name": text, "text": text}),
        "Workspace": obj(
            {"name": text, "models": count, "environments": count, "endpoints": count}
        ),
    }
