"""What to load: resolve TARGET (endpoint name or URL) and check it with one real request.

Every problem found here (unknown name, refused connection, missing or wrong key, an error
answer) is raised as one line before any load starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from serving import httpclient
from serving.errors import NotFoundError, UserInputError
from serving.loadtest.errors import TargetError
from serving.loadtest.payload import NoExample, example_body
from serving.workspace import Workspace

DEFAULT_PATH = "/score"
TIMEOUT_S = 30.0
"""Seconds one preflight request may take (an endpoint still loading its model is slow)."""


@dataclass(frozen=True)
class Target:
    """A scoring endpoint to load: where to send requests, and with which key."""

    label: str
    """The endpoint name, or the URL as given: used in messages."""
    host: str
    """``scheme://host:port``: all load goes there and nowhere else."""
    path: str
    """The scoring path on ``host`` (``/score``)."""
    key: str | None = None
    """Bearer key sent with every request, or None."""
    endpoint: str | None = None
    """The registered endpoint's name when TARGET was a name."""

    @property
    def scoring_uri(self) -> str:
        return f"{self.host}{self.path}"

    @property
    def swagger_uri(self) -> str:
        base = self.path.split("?", 1)[0].rsplit("/", 1)[0]
        return f"{self.host}{base}/swagger.json"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        return headers


def split_url(url: str) -> tuple[str, str]:
    """``(scheme://host:port, path)`` of a scoring URL; a bare host gets ``/score``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise UserInputError(f"target URL {url} must start with http:// or https://")
    if not parts.hostname:
        raise UserInputError(f"target URL {url} has no host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise UserInputError(f"target URL {url} has a bad port") from exc
    path = parts.path.rstrip("/") or DEFAULT_PATH
    if parts.query:
        path = f"{path}?{parts.query}"
    return f"{parts.scheme}://{parts.netloc}", path


def resolve_target(
    target: str, *, key: str | None = None, workspace: Workspace | None = None
) -> Target:
    """A :class:`Target` for an endpoint name (URI and key from the registry) or a URL."""
    target = target.strip()
    if "://" in target:
        host, path = split_url(target)
        return Target(label=target, host=host, path=path, key=key)
    ws = workspace or Workspace.discover()
    try:
        record = ws.endpoints.get(target)
    except NotFoundError as exc:
        if any(c in target for c in ":/."):
            raise NotFoundError(
                f"endpoint {target} not found",
                hint="give a URL with its scheme, e.g. http://127.0.0.1:5001/score",
            ) from exc
        raise
    if not record.scoring_uri:
        raise TargetError(
            f"endpoint {target} has no scoring URI (state {record.state})",
            hint=f"see 'serving endpoints show {target}'",
        )
    host, path = split_url(record.scoring_uri)
    key = key or (record.keys[0] if record.keys else None)
    return Target(label=target, host=host, path=path, key=key, endpoint=target)


def _send(
    method: str,
    url: str,
    target: Target,
    body: bytes | None = None,
    timeout_s: float = TIMEOUT_S,
) -> requests.Response:
    try:
        return httpclient.request(  # loopback targets: no proxy from HTTP_PROXY
            method,
            url,
            data=body,
            headers=target.headers(),
            timeout=timeout_s,
            allow_redirects=False,
        )
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
        raise TargetError(
            f"{target.label}: {reason} at {target.host}", hint=_hint(target, "running")
        ) from exc
    except requests.Timeout as exc:
        raise TargetError(f"{target.label}: no answer from {url} within {timeout_s:g} s") from exc
    except requests.RequestException as exc:
        raise TargetError(f"{target.label}: request to {url} failed: {exc}") from exc


def _hint(target: Target, topic: str) -> str:
    if target.endpoint and topic == "running":
        return f"is it running? see 'serving endpoints show {target.endpoint}'"
    if target.endpoint and topic == "key":
        return f"see 'serving endpoints keys {target.endpoint}'"
    if topic == "key":
        return "pass the endpoint's key with --key"
    return "check the URL and that the server is running"


def _message(resp: requests.Response) -> str:
    try:
        data: Any = resp.json()
    except ValueError:
        data = None
    text = data.get("message") if isinstance(data, dict) else None
    text = str(text) if text else resp.text or resp.reason or ""
    return " ".join(text.split())[:200]


def _check(resp: requests.Response, target: Target, what: str) -> None:
    if resp.status_code == 401:
        if target.key:
            raise TargetError(f"{target.label} rejected the key (401)", hint=_hint(target, "key"))
        raise TargetError(f"{target.label} requires a key (401)", hint=_hint(target, "key"))
    if 300 <= resp.status_code < 400:
        raise TargetError(
            f"{target.label}: {what} answered a redirect ({resp.status_code}) to "
            f"{resp.headers.get('Location', '?')}; load stays on the given host",
            hint="give the final scoring URL",
        )
    if resp.status_code != 200:
        raise TargetError(f"{target.label}: {what} answered {resp.status_code}: {_message(resp)}")


def fetch_example(target: Target, timeout_s: float = TIMEOUT_S) -> bytes:
    """A request body built from the example in the endpoint's swagger document."""
    resp = _send("GET", target.swagger_uri, target, timeout_s=timeout_s)
    if resp.status_code == 404:
        raise TargetError(
            f"{target.label} has no swagger document at {target.swagger_uri}",
            hint="pass a request body with --payload FILE",
        )
    _check(resp, target, "GET swagger.json")
    try:
        return example_body(resp.json(), target.path)
    except ValueError as exc:
        raise TargetError(f"{target.label}: {target.swagger_uri} is not JSON") from exc
    except NoExample as exc:
        raise TargetError(
            f"{target.label}: {exc}", hint="pass a request body with --payload FILE"
        ) from exc


def preflight(target: Target, body: bytes) -> float:
    """Send one real scoring request; its latency in ms, or a :class:`TargetError`."""
    started = time.perf_counter()
    resp = _send("POST", target.scoring_uri, target, body)
    elapsed_ms = (time.perf_counter() - started) * 1000
    _check(resp, target, f"POST {target.path}")
    try:
        resp.json()
    except ValueError as exc:
        raise TargetError(
            f"{target.label}: POST {target.path} answered 200 but not JSON: {_message(resp)}"
        ) from exc
    return elapsed_ms
