"""HTTP to a workspace server: the bearer token, the base URL, error mapping, paging and
streamed transfers, for every remote registry and run call.

The server answers every failure as ``{"error": {"code", "message", "hint"?}}``
(:mod:`serving.hub.errors`); :meth:`HubClient.request` turns that back into the same
:class:`~serving.errors.ServingError` subclass the folder workspace raises (``NotFound`` ->
:class:`~serving.errors.NotFoundError`, ...), so the CLI prints the same one-line message
and exits with the same code whichever kind of workspace it talks to. Connection failures
become :class:`~serving.errors.BackendUnavailableError` naming the server. Loopback URLs
skip environment proxies (:mod:`serving.httpclient`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from serving import errors as e
from serving import httpclient
from serving.hub.errors import Forbidden, Unauthorized
from serving.proc import interrupt_after
from serving.runs.errors import ModelPathNotFoundException, UserErrorException

API_PREFIX = "/api/v1"
TIMEOUT_S = 60.0
CHUNK = 1 << 20

_ERRORS: dict[str, type[e.ServingError]] = {
    "UserInput": e.UserInputError,
    "BadRequest": e.UserInputError,
    "NotFound": e.NotFoundError,
    "Conflict": e.ConflictError,
    "Integrity": e.IntegrityError,
    "EnvironmentSpec": e.EnvironmentSpecError,
    "Deployment": e.DeploymentError,
    "BackendUnavailable": e.BackendUnavailableError,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "UserErrorException": UserErrorException,
    "ModelPathNotFoundException": ModelPathNotFoundException,
}
_BY_STATUS: dict[int, type[e.ServingError]] = {
    400: e.UserInputError,
    401: Unauthorized,
    403: Forbidden,
    404: e.NotFoundError,
    409: e.ConflictError,
    413: e.UserInputError,
    502: e.BackendUnavailableError,
    503: e.BackendUnavailableError,
    504: e.BackendUnavailableError,
}
"""By status, for answers without the server's error body (a proxy or balancer in front
of it answering 502/504 with a page of its own)."""


class Readable(Protocol):
    """A body requests reads in chunks (a file object, or a wrapper counting progress)."""

    def read(self, size: int = -1, /) -> bytes: ...


def _checked_url(text: str) -> str:
    """``text`` without a trailing ``/``, or a one-line UserInputError: a host is needed,
    a port must be a number up to 65535 (requests would fail later, less clearly)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError as exc:
        raise e.UserInputError(f"{text!r} is not a workspace server URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise e.UserInputError(f"{text!r} is not a workspace server URL (http[s]://host:port)")
    return text.rstrip("/")


def segment(text: str) -> str:
    """One path segment, ``/`` included, percent-encoded (image names hold ``/``)."""
    return quote(str(text), safe="")


def _error(response: requests.Response) -> e.ServingError:
    """The ServingError a server's error answer stands for."""
    try:
        body = response.json()["error"]
        code, message, hint = str(body["code"]), str(body["message"]), body.get("hint")
    except (ValueError, KeyError, TypeError):
        code, message, hint = "", f"HTTP {response.status_code} from the workspace server", None
    cls = _ERRORS.get(code) or _BY_STATUS.get(response.status_code, e.ServingError)
    if response.status_code == 401:  # the client's way to send one, not the HTTP header
        hint = "set SERVING_TOKEN to a token from 'serving server tokens create'"
    return cls(message, hint=hint)


class HubClient:
    """One workspace server: ``base_url`` (``http(s)://host:port``) and a bearer token."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = TIMEOUT_S) -> None:
        self.base_url = _checked_url(base_url)
        self.token = token
        self.timeout = timeout

    def url(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
        **kwargs: Any,
    ) -> requests.Response:
        """One call; an error answer raises the matching ServingError (``ok`` lists the
        statuses that are answers)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        kwargs.setdefault("timeout", self.timeout)
        # a JSON call is short: Ctrl-C waits for its answer; a stream or upload is cut at once
        whole = not kwargs.get("stream") and "data" not in kwargs
        try:
            with interrupt_after() if whole else contextlib.nullcontext():
                response = httpclient.request(
                    method, self.url(path), params=params, headers=headers, **kwargs
                )
        except requests.RequestException as exc:
            raise e.BackendUnavailableError(
                f"cannot reach the workspace server {self.base_url}: {type(exc).__name__}",
                hint="is 'serving server start' running there?",
            ) from exc
        if response.status_code not in ok:
            with response:
                raise _error(response)
        return response

    # -- JSON ------------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_plain(params)).json()

    def send(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """POST/PUT/PATCH/DELETE with a JSON body; the JSON answer (None when empty)."""
        response = self.request(method, path, params=_plain(params), json=body)
        return response.json() if response.content else None

    def items(self, path: str, *, limit: int = 500, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, following ``next`` tokens."""
        query = [*_plain(params), ("limit", limit)]
        after: str | None = None
        seen: set[str] = set()
        while True:
            extra = [] if after is None else [("after", after)]
            page = self.request("GET", path, params=query + extra).json()
            yield from page["items"]
            after = page.get("next")
            if not after:
                return
            if after in seen:  # a server going round in circles: stop, do not loop forever
                raise e.IntegrityError(f"the workspace server sent page token {after} twice")
            seen.add(after)

    # -- streams ---------------------------------------------------------------------------
    def upload(
        self, path: str, body: Readable | Iterable[bytes], content_type: str, **params: Any
    ) -> Any:
        """POST a streamed body (a file object or chunks); the JSON answer."""
        response = self.request(
            "POST",
            path,
            params=_plain(params),
            data=body,
            headers={"Content-Type": content_type},
            timeout=(self.timeout, None),
        )
        return response.json() if response.content else None

    def download(self, path: str, dest: Path, **params: Any) -> requests.Response:
        """Stream a GET into ``dest`` (written to a temporary file beside it, then renamed,
        so a cut transfer leaves no file under the final name, nor a partial one); the
        response, for its headers."""
        # a private name beside dest: two downloads to one place never share a partial file
        # (not mkstemp: its 0600 would stay on the file; this one gets the umask's mode)
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                response = self.request(
                    "GET", path, params=_plain(params), stream=True, timeout=(self.timeout, None)
                )
                with response:
                    for chunk in response.iter_content(CHUNK):  # urllib3's errors as requests'
                        out.write(chunk)
            partial.replace(dest)
        except requests.RequestException as exc:  # cut off midway
            raise e.BackendUnavailableError(
                f"the download from the workspace server {self.base_url} was cut off: "
                f"{type(exc).__name__}",
                hint="try again",
            ) from exc
        finally:
            partial.unlink(missing_ok=True)
        return response


def _plain(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Query arguments without Nones; a list value repeats its key; bools as true/false."""
    out: list[tuple[str, Any]] = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None:
                continue
            out.append((key, ("true" if item else "false") if isinstance(item, bool) else item))
    return out
