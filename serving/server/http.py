"""Small HTTP helpers of the scoring server: the error encoder, request ids, bearer keys.

Kept apart from the routes so the per-request work is easy to see (and to keep cheap).
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from flask import Response
from werkzeug.wrappers import Response as BaseResponse

FAILED_HEADER = "x-ms-run-function-failed"
ID_LIMIT = 100
"""Longest request id accepted (longer: 431), as in azmlinfsrv."""

_log = logging.getLogger("serving.server")

INTERNAL_ERROR = "An unexpected internal error occurred. Check the logs for more info."

JSON_TYPE = ("Content-Type", "application/json")

Triple = tuple[int, list[tuple[str, str]], list[bytes]]
"""A response as (status, headers, body)."""
Outcome = Triple | BaseResponse
"""A triple, or a response object (returned by run()) to call as a WSGI app."""


def error_outcome(status: int, message: str, *, run_failed: bool = False) -> Triple:
    """The contract's error shape, ``{"message": ...}`` with the run-failed header: the one
    error encoder of the server (Flask's handlers wrap it with :func:`as_response`)."""
    body = json.dumps({"message": message}).encode()
    headers = [
        JSON_TYPE,
        ("Content-Length", str(len(body))),
        (FAILED_HEADER, "True" if run_failed else "False"),
    ]
    return status, headers, [body]


def as_response(outcome: Outcome) -> BaseResponse:
    """An outcome as a response for Flask: a triple wrapped, a response object as it is."""
    if isinstance(outcome, tuple):
        status, headers, body = outcome
        return Response(body, status, headers)
    return outcome


def json_response(payload: Any, status: int = 200, *, run_failed: bool | None = False) -> Response:
    """A JSON response; ``run_failed`` sets ``x-ms-run-function-failed`` (None: omit it)."""
    response = Response(json.dumps(payload), status, mimetype="application/json")
    if run_failed is not None:
        response.headers[FAILED_HEADER] = "True" if run_failed else "False"
    return response


class IdGenerator:
    """Cheap unique request ids shaped like a uuid4: a random per-process prefix + a counter.

    ``uuid.uuid4()`` costs a system call per request; this costs a string format. Create
    one per worker process (after fork) so prefixes differ between workers.
    """

    def __init__(self) -> None:
        r = os.urandom(10).hex()
        self._prefix = f"{r[:8]}-{r[8:12]}-4{r[12:15]}-{'89ab'[int(r[15], 16) % 4]}{r[16:19]}-"
        self._counter = itertools.count(int(r[19], 16) << 40)

    def __call__(self) -> str:
        """The next id."""
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


class RequestIds(NamedTuple):
    """The ids of one request, as echoed in the response headers."""

    request_id: str
    """x-request-id: the client's, else generated."""
    legacy_id: str
    """x-ms-request-id: the client id if one was given, else the request id."""
    client_id: str
    """x-ms-client-request-id: as sent (or the legacy header's value), may be empty."""


def read_ids(environ: Mapping[str, Any], new_id: IdGenerator) -> RequestIds | str:
    """The request's ids, or the 431 message when one is longer than 100 characters."""
    request_id = environ.get("HTTP_X_REQUEST_ID") or new_id()
    if len(request_id) > ID_LIMIT:
        return f"x-request-id must not exceed {ID_LIMIT} characters"
    legacy_id = environ.get("HTTP_X_MS_REQUEST_ID", "")
    client_id = environ.get("HTTP_X_MS_CLIENT_REQUEST_ID", "")
    if legacy_id:
        client_id = client_id or legacy_id
    else:
        legacy_id = client_id or request_id
    if len(legacy_id) > ID_LIMIT or len(client_id) > ID_LIMIT:
        return f"x-ms-request-id and x-ms-client-request-id must not exceed {ID_LIMIT} characters"
    return RequestIds(request_id, legacy_id, client_id)


class KeyChecker:
    """Bearer key authentication that fails closed.

    ``required`` (``SERVING_AUTH=key``): every check needs one of the keys, and with no key
    at all (no static key, keys file missing, unreadable or empty) every check fails.
    Not required (``SERVING_AUTH=none``): the endpoint is open and keys are ignored.

    Keys come from the settings and, when ``keys_file`` is given, from that file (one key
    per line), re-read whenever it is replaced: ``serving endpoints keys --regen`` takes
    effect on the next request without a restart. A deleted file revokes its keys; a file
    that is there but cannot be read (EIO, EACCES) keeps the last keys read from it, with
    one warning. A ``stat`` per check is the cost.
    """

    def __init__(
        self, keys: tuple[str, ...], keys_file: Path | None = None, *, required: bool = True
    ) -> None:
        self.required = required
        self._static = tuple(key.encode() for key in keys)
        self._file = keys_file
        self._file_sig: tuple[int, int, int] | None = None
        self._file_keys: tuple[bytes, ...] = ()
        self._keys = self._static
        self._warned = False
        if required:  # else no check ever runs: the file is not read
            self._refresh()
            if self._file_sig is None:  # else _refresh() warned already where it had to
                self._warn_if_keyless()

    def _refresh(self) -> None:
        if self._file is None:
            return
        try:
            st = os.stat(self._file)
            sig: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            sig = None  # missing (or its folder unreadable): no keys from the file
        if sig == self._file_sig:
            return
        if sig is not None:
            try:
                self._file_keys = tuple(self._file.read_bytes().split())
            except OSError as exc:
                if not self._warned:
                    self._warned = True
                    _log.warning(
                        "Cannot read the keys file %s (%s): keeping the keys read before",
                        self._file,
                        exc.strerror or exc,
                    )
                return  # the signature is not recorded: the next check tries again
        else:
            self._file_keys = ()
        self._file_sig = sig
        self._warned = False
        self._keys = self._static + self._file_keys
        self._warn_if_keyless()

    def _warn_if_keyless(self) -> None:
        if self.required and not self._keys:
            _log.warning(
                "Authentication is on but no key is configured or readable (keys file: %s): "
                "every /score and /swagger.json request gets 401",
                self._file or "none",
            )

    @property
    def enabled(self) -> bool:
        """Requests must carry a key (whether or not any can be read right now)."""
        if self.required:
            self._refresh()
        return self.required

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries one of the keys.

        Every key is compared in constant time, so timing tells nothing about which
        key (or how much of one) matched.
        """
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        candidate = token.strip().encode()
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        return matched
