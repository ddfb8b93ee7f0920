"""Property tests for input decoding: any request body or query either binds to run()'s
arguments or is refused with a 4xx ScoringError, never another exception (in-process).

Each property prints how many examples it ran (``-s`` shows them).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.scoring import (
    BadInputError,
    EntryScript,
    RunFailedError,
    Scorer,
    ScoringError,
    ScoringInput,
    bind_arguments,
    decode_json,
    install_compat_path,
    load_entry_script,
    parse_query_string,
)
from tests.fuzz.conftest import DEEP_KINDS, FUZZ_SCRIPTS, deep_json
from tests.helpers import FIXTURES

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=25,
)


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    """Arrays or objects nested around the depth where the decoder gives up."""
    depth = draw(st.integers(min_value=1, max_value=3000))
    if draw(st.booleans()):
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["data", "factor", "x"]), json_values).map(
        lambda d: json.dumps(d).encode()
    ),
    st.text(alphabet='{}[]":,0123456789.eE-+ tfnrulasx\\', max_size=80).map(str.encode),
    nested(),
)


class Counter:
    """Examples run per property, printed at the end of each test."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture()
def count(request: pytest.FixtureRequest) -> Iterator[Counter]:
    counter = Counter(request.node.name)
    yield counter
    print(f"\n[fuzz] {counter.name}: {counter.count} examples")


def _load(folder: Path, name: str) -> EntryScript:
    install_compat_path()
    return load_entry_script(folder, name)


def _is_client_error(exc: ScoringError) -> bool:
    return 400 <= exc.http_status < 500 and not exc.run_failed


# -- decode_json -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", DEEP_KINDS)
def test_deep_nesting_is_a_value_error(kind: str) -> None:
    with pytest.raises(ValueError, match=r"^JSON is nested too deeply$"):
        decode_json(deep_json(kind))


def test_decode_json_raises_only_value_error(count: Counter) -> None:
    @FUZZ
    @given(bodies)
    def check(data: bytes) -> None:
        count()
        with contextlib.suppress(ValueError):
            decode_json(data)

    check()


def test_decode_json_round_trips(count: Counter) -> None:
    @FUZZ
    @given(json_values)
    def check(value: Any) -> None:
        count()
        assert decode_json(json.dumps(value)) == value
        assert decode_json(json.dumps(value).encode("utf-16")) == value

    check()


# -- POST bodies, per input mode ---------------------------------------------------------


@pytest.mark.parametrize("kind", DEEP_KINDS)
@pytest.mark.parametrize("script", ["schema_decorated.py", "ok.py"])
def test_deep_post_body_is_a_400(script: str, kind: str) -> None:
    bound = _load(FIXTURES, script)
    if script == "ok.py":  # plain mode: run() gets the text and decodes it (or not) itself
        kwargs = bind_arguments(bound, ScoringInput("POST", deep_json(kind), is_json=True))
        assert len(kwargs["raw_data"]) == len(deep_json(kind))
        return
    with pytest.raises(BadInputError) as info:
        bind_arguments(bound, ScoringInput("POST", deep_json(kind), is_json=True))
    assert info.value.http_status == 400
    assert info.value.message == "POST body could not be decoded as JSON: JSON is nested too deeply"


@pytest.mark.parametrize("script", ["schema_decorated.py", "ok.py"])
def test_any_post_body_binds_or_is_a_4xx(script: str, count: Counter) -> None:
    bound = _load(FIXTURES, script)

    @FUZZ
    @given(bodies, st.booleans())
    def check(body: bytes, is_json: bool) -> None:
        count()
        try:
            kwargs = bind_arguments(bound, ScoringInput("POST", body, is_json=is_json))
        except ScoringError as exc:
            assert _is_client_error(exc), exc
            return
        assert set(kwargs) == {p.name for p in bound.input_params}

    check()


def test_schema_post_round_trips_json_values(count: Counter) -> None:
    bound = _load(FIXTURES, "schema_decorated.py")

    @FUZZ
    @given(json_values, st.none() | json_values)
    def check(data: Any, factor: Any) -> None:
        count()
        body = {"data": data} if factor is None else {"data": data, "factor": factor}
        kwargs = bind_arguments(bound, ScoringInput("POST", json.dumps(body).encode(), True))
        assert kwargs == {"data": data, "factor": 1.0 if factor is None else factor}

    check()


# -- GET queries -------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["schema_decorated.py", "ok.py"])
def test_any_query_binds_or_is_a_4xx(script: str, count: Counter) -> None:
    bound = _load(FIXTURES, script)
    queries = st.text(max_size=120) | st.integers(1, 3000).map(lambda n: "data=" + "[" * n)

    @FUZZ
    @given(queries)
    def check(query: str) -> None:
        count()
        try:
            kwargs = bind_arguments(bound, ScoringInput("GET", query=parse_query_string(query)))
        except ScoringError as exc:
            assert _is_client_error(exc), exc
            return
        assert set(kwargs) == {p.name for p in bound.input_params}

    check()


def test_deep_query_value_is_a_400() -> None:
    bound = _load(FIXTURES, "schema_decorated.py")
    query = parse_query_string("data=" + "[" * 5000 + "]" * 5000)
    with pytest.raises(BadInputError, match=r"^A query parameter could not be decoded: JSON is"):
        bind_arguments(bound, ScoringInput("GET", query=query))


# -- inference-schema parameter types, through the scorer ---------------------------------


def _score(scorer: Scorer, body: bytes) -> Any:
    return scorer.score(ScoringInput("POST", body, is_json=True)).value


def test_schema_types_decode_valid_input(count: Counter) -> None:
    scorer = Scorer(_load(FUZZ_SCRIPTS, "schema_types.py"))
    finite = st.floats(allow_nan=False, allow_infinity=False, width=64)

    @FUZZ
    @given(
        st.integers(1, 6).flatmap(
            lambda rows: st.lists(
                st.lists(finite, min_size=3, max_size=3), min_size=rows, max_size=rows
            )
        ),
        st.dictionaries(st.sampled_from(["scale", "tags", "other"]), json_values),
        st.none() | st.integers(-(2**31), 2**31),
    )
    def check(matrix: list[list[float]], options: dict[str, Any], number: int | None) -> None:
        count()
        body: dict[str, Any] = {"matrix": matrix, "options": options}
        if number is not None:
            body["count"] = number
        result = _score(scorer, json.dumps(body).encode())
        assert result == {"rows": len(matrix), "cols": 3, "count": 1 if number is None else number}

    check()


def test_schema_types_any_body_scores_or_fails_cleanly(count: Counter) -> None:
    """4xx for what cannot be bound; a value inference-schema cannot convert fails inside
    the decorated run() (500 with x-ms-run-function-failed, the Azure contract)."""
    scorer = Scorer(_load(FUZZ_SCRIPTS, "schema_types.py"))
    shaped = st.fixed_dictionaries(
        {"matrix": json_values, "options": json_values}, optional={"count": json_values}
    ).map(lambda d: json.dumps(d).encode())

    @FUZZ
    @given(bodies | shaped)
    def check(body: bytes) -> None:
        count()
        try:
            result = _score(scorer, body)
        except RunFailedError as exc:
            assert exc.http_status == 500 and exc.run_failed
            assert isinstance(exc.__cause__, Exception)
            return
        except ScoringError as exc:
            assert _is_client_error(exc), exc
            return
        assert set(result) == {"rows", "cols", "count"}

    check()


def test_numpy_values_keep_their_numbers(count: Counter) -> None:
    scorer = Scorer(_load(FIXTURES, "schema_decorated.py"))
    finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)

    @FUZZ
    @given(st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=8), finite)
    def check(rows: list[list[float]], factor: float) -> None:
        count()
        body = json.dumps({"data": rows, "factor": factor}).encode()
        result = _score(scorer, body)
        expected = (np.array(rows).sum(axis=1) * factor).tolist()
        assert all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
            for a, b in zip(result, expected, strict=True)
        )

    check()


# -- rawhttp: run() decodes with request.get_json() (the Flask path) -----------------------


ClientFor = Callable[..., FlaskClient]


@pytest.mark.parametrize("kind", DEEP_KINDS)
def test_rawhttp_deep_json_is_a_400(client_for: ClientFor, kind: str) -> None:
    client = client_for("raw_json.py", app_root=FUZZ_SCRIPTS)
    response = client.post("/score", data=deep_json(kind), content_type="application/json")
    assert response.status_code == 400
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert "message" in response.get_json()


def test_rawhttp_any_body_is_decoded_or_a_4xx(client_for: ClientFor, count: Counter) -> None:
    client = client_for("raw_json.py", app_root=FUZZ_SCRIPTS)
    types = st.sampled_from(["application/json", "application/x+json", "text/plain", ""])

    @FUZZ
    @given(bodies, types)
    def check(body: bytes, content_type: str) -> None:
        count()
        response = client.post("/score", data=body, content_type=content_type)
        assert response.status_code in (200, 400, 415), response.get_data()
        payload = response.get_json()
        assert isinstance(payload, dict)
        assert ("type" in payload) if response.status_code == 200 else ("message" in payload)

    check()
