"""Turn a request into run()'s keyword arguments, per input mode (contract section 1.2).

Independent of the web framework: the server fills a :class:`ScoringInput` from its
request object; the rawhttp mode passes that object through as ``raw``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

from serving.scoring.exceptions import (
    BadInputError,
    MethodNotAllowedError,
    UnsupportedInputError,
)
from serving.scoring.loader import HEADERS_PARAM, EntryScript, InputMode


class QueryArgs(Protocol):
    """Query parameters with repeated keys (werkzeug's ``MultiDict`` fits)."""

    def __iter__(self) -> Iterator[str]: ...

    def getlist(self, key: str) -> list[str]: ...


class HeaderSource(Protocol):
    """Request headers; ``dict(headers)`` gives what ``request_headers`` receives."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str) -> str: ...


@dataclass(frozen=True, slots=True)
class ScoringInput:
    """What run() may need from one request."""

    method: str
    body: bytes = b""
    is_json: bool = False
    """The content type is ``application/json`` (or ``application/*+json``)."""
    query: QueryArgs | None = None
    headers: HeaderSource | None = None
    raw: object = None
    """The framework's request object, for rawhttp scripts."""


def bind_arguments(script: EntryScript, inp: ScoringInput) -> dict[str, Any]:
    """The keyword arguments to call ``script.run`` with for this request.

    Raises :class:`BadInputError` (400), :class:`UnsupportedInputError` (415) or
    :class:`MethodNotAllowedError` (405) with the contract's messages.
    """
    if script.mode is InputMode.RAWHTTP:
        kwargs: dict[str, Any] = {script.input_params[0].name: inp.raw}
    elif inp.method == "POST":
        kwargs = _bind_post(script, inp)
    elif inp.method == "GET":
        args = parse_query(inp.query)
        if script.mode is InputMode.SCHEMA:
            kwargs = _bind_by_name(script.input_params, args)
        else:
            kwargs = {script.input_params[0].name: json.dumps(args)}
    else:
        raise MethodNotAllowedError(inp.method)
    if script.wants_headers:
        kwargs[HEADERS_PARAM] = dict(inp.headers) if inp.headers is not None else {}
    return kwargs


def _bind_post(script: EntryScript, inp: ScoringInput) -> dict[str, Any]:
    if script.mode is InputMode.PLAIN:
        try:
            return {script.input_params[0].name: str(inp.body, "utf-8")}
        except UnicodeDecodeError as exc:
            raise BadInputError(f"Input cannot be decoded as UTF-8: {exc}") from None
    if not inp.is_json:
        raise UnsupportedInputError("Expects Content-Type to be application/json")
    if not inp.body:
        raise BadInputError("POST body is empty. Expecting a JSON dictionary.")
    try:
        body = decode_json(inp.body)
    except ValueError as exc:
        raise BadInputError(f"POST body could not be decoded as JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadInputError("POST body should be a JSON dictionary.")
    return _bind_by_name(script.input_params, body)


def _bind_by_name(params: tuple[inspect.Parameter, ...], body: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for param in params:
        value = body.get(param.name, param.default)
        if value is inspect.Parameter.empty:
            raise BadInputError(f"A value is not provided for the {param.name!r} parameter.")
        kwargs[param.name] = value
    return kwargs


def decode_json(data: str | bytes, **kwargs: Any) -> Any:
    """``json.loads``, raising only ``ValueError`` for input it cannot decode.

    Besides malformed JSON and bytes that are not UTF-8/16/32 (``JSONDecodeError`` and
    ``UnicodeDecodeError``, both ``ValueError``), this covers nesting deeper than the
    interpreter's recursion limit (``[[[[...`` 100 000 deep), where ``json`` raises
    ``RecursionError``: every undecodable body is the client's error, never the server's.
    """
    try:
        return json.loads(data, **kwargs)
    except RecursionError:
        raise JSONNestingError() from None


class JSONNestingError(ValueError):
    """JSON nested deeper than the decoder's recursion allows."""

    def __init__(self) -> None:
        super().__init__("JSON is nested too deeply")


def _json_or_str(value: str) -> Any:
    try:
        return decode_json(value)
    except JSONNestingError as exc:
        raise BadInputError(f"A query parameter could not be decoded: {exc}") from None
    except ValueError:
        return value


class ParsedQuery(dict[str, list[str]]):
    """Query parameters parsed from a query string, in order, repeated keys kept."""

    def getlist(self, key: str) -> list[str]:
        """All values of ``key``."""
        return self.get(key, [])


def parse_query_string(query_string: str) -> ParsedQuery:
    """``a=1&b=x&b=y`` as ``{"a": ["1"], "b": ["x", "y"]}`` (blank values kept)."""
    parsed = ParsedQuery()
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        parsed.setdefault(key, []).append(value)
    return parsed


def parse_query(query: QueryArgs | None) -> dict[str, Any]:
    """Query parameters as JSON values: ``?a=1&b=x&b=y`` gives ``{"a": 1, "b": ["x", "y"]}``."""
    parsed: dict[str, Any] = {}
    if query is None:
        return parsed
    for key in query:
        values = query.getlist(key)
        if len(values) == 1:
            parsed[key] = _json_or_str(values[0])
        else:
            parsed[key] = [_json_or_str(v) for v in values]
    return parsed
