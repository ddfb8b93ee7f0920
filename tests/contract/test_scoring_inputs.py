"""Binding requests to run() per input mode, and encoding results (no HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from serving.scoring import (
    BadInputError,
    EntryScript,
    MethodNotAllowedError,
    ResultNotSerializableError,
    ScoringInput,
    UnsupportedInputError,
    bind_arguments,
    encode_result,
    install_compat_path,
    is_stream,
    load_entry_script,
    parse_query,
    parse_query_string,
)


def _load(scripts_dir: Path, name: str) -> EntryScript:
    install_compat_path()
    return load_entry_script(scripts_dir, name)


def test_plain_post_gets_the_body_as_str(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "ok.py")
    kwargs = bind_arguments(script, ScoringInput("POST", b'{"a": 1}'))
    assert kwargs == {"raw_data": '{"a": 1}'}


def test_plain_post_rejects_non_utf8(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "ok.py")
    with pytest.raises(BadInputError, match=r"^Input cannot be decoded as UTF-8: ") as info:
        bind_arguments(script, ScoringInput("POST", b"\xff\xfe\x00"))
    assert info.value.http_status == 400
    assert not info.value.run_failed


def test_plain_get_gets_the_query_as_json(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "ok.py")
    query = parse_query_string("a=1&b=[1,2]&c=x&d=null&r=1&r=two&e=")
    kwargs = bind_arguments(script, ScoringInput("GET", query=query))
    assert json.loads(kwargs["raw_data"]) == {
        "a": 1,
        "b": [1, 2],
        "c": "x",
        "d": None,
        "r": [1, "two"],
        "e": "",
    }


def test_parse_query_without_query() -> None:
    assert parse_query(None) == {}


def test_schema_post_binds_by_name_and_ignores_extra_keys(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "schema_decorated.py")
    body = b'{"data": [[1, 2, 3]], "extra": true}'
    assert bind_arguments(script, ScoringInput("POST", body, is_json=True)) == {
        "data": [[1, 2, 3]],
        "factor": 1.0,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "POST body is empty. Expecting a JSON dictionary."),
        (b"[1, 2]", "POST body should be a JSON dictionary."),
        (b'{"factor": 2}', "A value is not provided for the 'data' parameter."),
        (b"{not json", "POST body could not be decoded as JSON: Expecting property name"),
        (b"\xff\xfe", "POST body could not be decoded as JSON: "),
    ],
)
def test_schema_post_errors(scripts_dir: Path, body: bytes, message: str) -> None:
    script = _load(scripts_dir, "schema_decorated.py")
    with pytest.raises(BadInputError) as info:
        bind_arguments(script, ScoringInput("POST", body, is_json=True))
    assert info.value.message.startswith(message)


def test_schema_post_needs_json_content_type(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "schema_decorated.py")
    with pytest.raises(UnsupportedInputError) as info:
        bind_arguments(script, ScoringInput("POST", b'{"data": [[1]]}', is_json=False))
    assert info.value.http_status == 415
    assert info.value.message == "Expects Content-Type to be application/json"


def test_schema_get_binds_from_the_query(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "schema_decorated.py")
    query = parse_query_string("data=[[1,2,3]]&factor=2")
    assert bind_arguments(script, ScoringInput("GET", query=query)) == {
        "data": [[1, 2, 3]],
        "factor": 2,
    }


def test_rawhttp_gets_the_request_object(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "raw_http.py")
    marker = object()
    assert bind_arguments(script, ScoringInput("PUT", raw=marker)) == {"request": marker}


def test_request_headers_are_passed_as_a_dict(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "request_headers.py")
    headers = {"X-Custom-Header": "v", "Host": "h"}
    kwargs = bind_arguments(script, ScoringInput("POST", b"x", headers=headers))
    assert kwargs == {"data": "x", "request_headers": headers}


def test_other_methods_are_not_allowed(scripts_dir: Path) -> None:
    script = _load(scripts_dir, "ok.py")
    with pytest.raises(MethodNotAllowedError) as info:
        bind_arguments(script, ScoringInput("DELETE"))
    assert info.value.http_status == 405


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (None, b"{}"),
        ("hello", b'"hello"'),
        ('{"a": 1}', b'"{\\"a\\": 1}"'),  # pre-serialised JSON comes out double-encoded
        ({"a": [1, 2]}, b'{"a": [1, 2]}'),
        (5, b"5"),
        (np.arange(4).reshape(2, 2), b"[[0, 1], [2, 3]]"),
        (np.int64(7), b"7"),
        (np.float32(0.5), b"0.5"),
        (
            {"probs": np.array([0.25, 0.75]), "label": np.int64(1)},
            b'{"probs": [0.25, 0.75], "label": 1}',
        ),
    ],
)
def test_results_are_encoded_like_json_dumps(value: object, encoded: bytes) -> None:
    assert encode_result(value) == encoded


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object()])
def test_unserialisable_results_raise(value: object) -> None:
    with pytest.raises(ResultNotSerializableError) as info:
        encode_result(value)
    assert info.value.http_status == 500
    assert not info.value.run_failed
    assert info.value.message.startswith("An unexpected internal error occurred.")


def test_generators_are_streams() -> None:
    assert is_stream(x for x in "ab")
    assert not is_stream(["a"])
