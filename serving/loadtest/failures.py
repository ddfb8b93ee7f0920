"""Failure messages: written by the locust file for each bad answer, read back for the summary.

The format is ``HTTP <status>: <message>`` (``HTTP 0`` when no answer came), so failures can
be grouped by status code and message without locust's own exception wrappers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE = 160
_WRAPPED = re.compile(r"^\w+\((?P<q>['\"])(?P<inner>.*)(?P=q),?\)$", re.DOTALL)
_NOT_JSON = object()
_HTTP = re.compile(r"^HTTP (?P<status>\d{1,3}): ?(?P<message>.*)$", re.DOTALL)


@dataclass(frozen=True)
class FailureGroup:
    """Failed requests with the same status code and message."""

    status: int | None
    """HTTP status, 0 when no answer came (refused, reset, timeout), None when unknown."""
    message: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, "count": self.count}


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def failure_reason(status: int, text: str | None, error: BaseException | None = None) -> str | None:
    """Why an answer counts as failed (``HTTP <status>: <message>``), or None when it is good.

    Good means status 200 and a JSON body.
    """
    if not status:
        what = type(error).__name__ if error is not None else "no response"
        detail = str(error) if error is not None else ""
        return _short(f"HTTP 0: {what}: {detail}" if detail else f"HTTP 0: {what}")
    body = text or ""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = _NOT_JSON
    if status == 200:
        return None if data is not _NOT_JSON else "HTTP 200: response is not JSON"
    message = data.get("message") if isinstance(data, dict) else None
    return _short(f"HTTP {status}: {message or body or 'no body'}")


def parse_failure(error: str) -> tuple[int | None, str]:
    """``(status, message)`` of a failure as locust recorded it.

    locust may keep the message wrapped, as in ``CatchResponseError('HTTP 500: boom')``.
    """
    text = error.strip()
    wrapped = _WRAPPED.match(text)
    if wrapped:
        text = wrapped.group("inner").replace("\\'", "'").replace('\\"', '"')
    http = _HTTP.match(text)
    if http:
        return int(http.group("status")), _short(http.group("message"))
    return None, _short(text)


def group_failures(errors: list[tuple[str, int]]) -> tuple[FailureGroup, ...]:
    """Merge locust's ``(error, occurrences)`` pairs by status and message, most first."""
    counts: dict[tuple[int | None, str], int] = {}
    for error, occurrences in errors:
        key = parse_failure(error)
        counts[key] = counts.get(key, 0) + occurrences
    groups = [FailureGroup(status, message, count) for (status, message), count in counts.items()]
    return tuple(sorted(groups, key=lambda g: (-g.count, g.status or 0, g.message)))
