"""Request bodies: read from a JSON or JSON-lines file, or taken from a swagger example.

Pure functions over bytes and parsed documents; fetching the swagger document is the
target's job (:mod:`serving.loadtest.target`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serving.errors import UserInputError

MAX_PAYLOAD_BYTES = 256 * 1024 * 1024


class NoExample(Exception):
    """The swagger document holds no usable request example; the message says why."""


def read_bodies(path: Path) -> list[bytes]:
    """The request bodies in ``path``: one JSON document, or JSON lines (one body a line).

    Each body is checked to be JSON; blank lines are skipped.
    """
    try:
        size = path.stat().st_size
        if size > MAX_PAYLOAD_BYTES:
            raise UserInputError(f"payload file {path} is over {MAX_PAYLOAD_BYTES >> 20} MiB")
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise UserInputError(f"payload file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise UserInputError(f"payload file {path} is a folder") from exc
    except OSError as exc:
        raise UserInputError(f"cannot read payload file {path}: {exc.strerror}") from exc
    try:
        json.loads(raw)
    except ValueError:
        return _json_lines(path, raw)
    return [raw.strip()]


def _json_lines(path: Path, raw: bytes) -> list[bytes]:
    bodies: list[bytes] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            json.loads(line)
        except ValueError as exc:
            raise UserInputError(
                f"payload file {path} is neither JSON nor JSON lines: line {number}: {exc}"
            ) from exc
        bodies.append(line)
    if not bodies:
        raise UserInputError(f"payload file {path} holds no request body")
    return bodies


def write_bodies(bodies: Sequence[bytes], path: Path) -> None:
    """Write ``bodies`` as JSON lines (bodies spanning lines are compacted)."""
    with path.open("wb") as file:
        for body in bodies:
            if b"\n" in body or b"\r" in body:
                body = json.dumps(json.loads(body), separators=(",", ":")).encode("utf-8")
            file.write(body + b"\n")


def example_body(doc: dict[str, Any], score_path: str = "/score") -> bytes:
    """The request example of the scoring operation in a swagger 2 or OpenAPI 3 document.

    Raises :class:`NoExample` when there is none, or only the empty ``{}`` placeholder that
    servers generate for a ``run()`` without an inference-schema decorator.
    """
    example = _find_example(doc, score_path)
    if example is None:
        raise NoExample("its swagger document has no request example")
    if example in ({}, [], ""):
        raise NoExample("its swagger example is empty (run() declares no input schema)")
    return json.dumps(example, separators=(",", ":")).encode("utf-8")


def _find_example(doc: dict[str, Any], score_path: str) -> Any:
    operation = _score_operation(doc, score_path)
    candidates: list[Any] = []
    if operation is not None:
        for param in operation.get("parameters") or []:  # swagger 2: the body parameter
            if isinstance(param, dict) and param.get("in") == "body":
                candidates.append(param)
                candidates.append(param.get("schema"))
        content = (operation.get("requestBody") or {}).get("content") or {}  # OpenAPI 3
        media = content.get("application/json") or next(iter(content.values()), None)
        if isinstance(media, dict):
            candidates.append(media)
            candidates.append(media.get("schema"))
    # the server's generated documents name the input schema ServiceInput
    candidates.append((doc.get("definitions") or {}).get("ServiceInput"))
    candidates.append(((doc.get("components") or {}).get("schemas") or {}).get("ServiceInput"))
    for candidate in candidates:
        found = _example_of(doc, candidate)
        if found is not None:
            return found
    return None


def _score_operation(doc: dict[str, Any], score_path: str) -> dict[str, Any] | None:
    paths = doc.get("paths") or {}
    wanted = "/" + score_path.split("?", 1)[0].strip("/")
    matches = [p for p in paths if p.rstrip("/") == wanted] or [
        p for p in paths if p.rstrip("/").endswith("/score")
    ]
    for path in matches:
        operation = (paths.get(path) or {}).get("post")
        if isinstance(operation, dict):
            return operation
    return None


def _example_of(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """``example`` (or the first of ``examples``) of a schema/media object, following $ref."""
    if not isinstance(node, dict) or depth > 8:
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _example_of(doc, _resolve(doc, ref), depth + 1)
    if "example" in node:
        return node["example"]
    examples = node.get("examples")
    if isinstance(examples, list) and examples:  # JSON Schema / OpenAPI 3.1
        return examples[0]
    if isinstance(examples, dict) and examples:  # OpenAPI 3 media: {name: {"value": ...}}
        first = next(iter(examples.values()))
        return first.get("value") if isinstance(first, dict) else None
    vendor = node.get("x-examples")  # swagger 2 body parameter: {media type: example}
    if isinstance(vendor, dict) and vendor:
        return next(iter(vendor.values()))
    return None


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        return None
    node: Any = doc
    for part in ref[2:].split("/"):
        if not isinstance(node, dict):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node
