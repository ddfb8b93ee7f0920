"""Request bodies from files, and from the swagger documents the scoring server generates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

from serving.errors import UserInputError
from serving.loadtest.payload import NoExample, example_body, read_bodies, write_bodies
from serving.server.swagger import build_swagger
from tests.helpers import SAMPLE


@input_schema("data", NumpyParameterType(np.zeros((1, 3), dtype=np.float64)))
@output_schema(NumpyParameterType(np.array([0])))
def decorated_run(data: Any) -> Any:
    return data


def plain_run(raw: str) -> str:
    return raw


def docs(run: Any, tmp_path: Path, prefix: str = "") -> dict[str, dict[str, Any]]:
    built = build_swagger(run, tmp_path, title="t", service_version="1", path_prefix=prefix)
    return {v: built.get(v) for v in built.versions}


def test_json_file_is_one_body() -> None:
    bodies = read_bodies(SAMPLE)
    assert len(bodies) == 1
    assert json.loads(bodies[0]) == json.loads(SAMPLE.read_text())


def test_pretty_json_is_one_body(tmp_path: Path) -> None:
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps({"data": [[1, 2], [3, 4]]}, indent=2))
    assert [json.loads(b) for b in read_bodies(path)] == [{"data": [[1, 2], [3, 4]]}]


def test_json_lines_are_many_bodies(tmp_path: Path) -> None:
    path = tmp_path / "bodies.jsonl"
    path.write_text('{"data": [[1]]}\n\n{"data": [[2]]}\n[1, 2]\n')
    assert [json.loads(b) for b in read_bodies(path)] == [{"data": [[1]]}, {"data": [[2]]}, [1, 2]]


@pytest.mark.parametrize(
    ("content", "needle"),
    [('{"a": 1}\n{"b": \n', "line 2"), ("", "no request body"), ("\n\n", "no request body")],
)
def test_bad_payload_files(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserInputError, match=needle):
        read_bodies(path)


def test_missing_payload_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        read_bodies(tmp_path / "nope.json")
    with pytest.raises(UserInputError, match="is a folder"):
        read_bodies(tmp_path)


def test_written_bodies_read_back_as_lines(tmp_path: Path) -> None:
    bodies = [b'{\n  "a": 1\n}', b'{"b":2}']
    path = tmp_path / "out.jsonl"
    write_bodies(bodies, path)
    assert path.read_text().splitlines() == ['{"a":1}', '{"b":2}']
    assert [json.loads(b) for b in read_bodies(path)] == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize("prefix", ["", "api/v1"])
def test_example_from_generated_swagger_2_and_3(tmp_path: Path, prefix: str) -> None:
    documents = docs(decorated_run, tmp_path, prefix)
    assert {"2", "3"} <= set(documents)
    path = f"/{prefix}/score" if prefix else "/score"
    for doc in documents.values():
        assert json.loads(example_body(doc, path)) == {"data": [[0.0, 0.0, 0.0]]}


def test_undecorated_run_has_no_usable_example(tmp_path: Path) -> None:
    for doc in docs(plain_run, tmp_path).values():
        with pytest.raises(NoExample, match="empty"):
            example_body(doc)


def test_examples_in_other_places() -> None:
    media = {
        "openapi": "3.0.0",
        "paths": {
            "/score": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "object"},
                                "examples": {"one": {"value": {"x": 1}}},
                            }
                        }
                    }
                }
            }
        },
    }
    assert json.loads(example_body(media)) == {"x": 1}
    listed = {"components": {"schemas": {"ServiceInput": {"examples": [{"y": 2}]}}}}
    assert json.loads(example_body(listed)) == {"y": 2}
    vendor = {
        "paths": {
            "/score": {
                "post": {
                    "parameters": [
                        {"in": "body", "name": "b", "x-examples": {"application/json": {"z": 3}}}
                    ]
                }
            }
        }
    }
    assert json.loads(example_body(vendor)) == {"z": 3}
    with pytest.raises(NoExample, match="no request example"):
        example_body({"swagger": "2.0", "paths": {}})
