"""Arguments shared by routes: ``limit``, opaque page tokens (``after``), booleans,
integers in a range and ``{version}`` path parts.

A page token is the url-safe base64 of a small JSON list: the sort key of the last item
of the page (keyset paging, for runs) or an offset into a list the layer below returns
whole (models, environments, images, endpoints: small tables). Clients treat it as opaque,
so either kind can change without changing the API.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from serving.errors import UserInputError

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
T = TypeVar("T")


def int_arg(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise UserInputError(f"{name} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise UserInputError(f"{name} must be between {low} and {high}, not {value}")
    return value


def limit_arg(args: Mapping[str, str]) -> int:
    return int_arg(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def bool_arg(args: Mapping[str, str], name: str) -> bool:
    text = (args.get(name) or "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise UserInputError(f"{name} must be true or false, not {text!r}")
    return text in ("true", "1")


def encode(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(token: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise UserInputError("the page token (after) is not one this server gave") from None
    if not isinstance(key, list):
        raise UserInputError("the page token (after) is not one this server gave")
    return key


def page_of(items: Sequence[T], args: Mapping[str, str]) -> tuple[list[T], str | None]:
    """One page of a whole list: (items, the token of the next page or None)."""
    limit = limit_arg(args)
    start = 0
    if args.get("after"):
        key = decode(args["after"])
        if len(key) != 1 or not isinstance(key[0], int) or key[0] < 0:
            raise UserInputError("the page token (after) is not one this server gave")
        start = key[0]
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return chunk, encode([start + limit]) if more else None


def version_arg(version: str) -> int | None:
    """A ``{version}`` path part: a positive integer, or ``latest`` (None)."""
    if version == "latest":
        return None
    if not version.isdigit() or int(version) < 1:
        raise UserInputError(f"version must be a positive integer or latest, not {version!r}")
    return int(version)
