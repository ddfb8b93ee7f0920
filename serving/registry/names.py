"""Names and ``name:version`` references, validated the Azure ML v1 way.

Every check is a full match (``re.fullmatch``): ``$`` alone would accept a trailing newline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from serving.errors import UserInputError

MODEL_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}")
SERVICE_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def check_model_name(name: str, what: str = "model") -> str:
    if not MODEL_NAME.fullmatch(name):
        raise UserInputError(
            f"invalid {what} name {name!r}: use 1-255 letters, digits, '-', '.' or '_', "
            "starting with a letter or digit"
        )
    return name


def check_service_name(name: str) -> str:
    if not (3 <= len(name) <= 32 and SERVICE_NAME.fullmatch(name)):
        raise UserInputError(
            f"invalid endpoint name {name!r}: use 3-32 lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-'"
        )
    return name


@dataclass(frozen=True)
class Ref:
    """A ``name`` or ``name:version`` reference; ``version`` None means the latest."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}:{self.version}"


def parse_ref(text: str, what: str = "model") -> Ref:
    name, sep, version = text.partition(":")
    check_model_name(name, what)
    if not sep:
        return Ref(name)
    if not version.isdigit() or int(version) < 1:
        raise UserInputError(
            f"invalid {what} reference {text!r}: the version after ':' must be a positive integer"
        )
    return Ref(name, int(version))


def parse_pairs(items: tuple[str, ...] | list[str], what: str) -> dict[str, str]:
    """``K=V`` options into a dict; a bare ``K`` maps to ''."""
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key.strip():
            raise UserInputError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def latest_only(records: Iterable[N]) -> list[N]:
    """Keep the first record of each name (records come newest version first)."""
    seen: set[str] = set()
    out: list[N] = []
    for record in records:
        if record.name not in seen:
            seen.add(record.name)
            out.append(record)
    return out
