"""The plain request on the hot routes, read without gunicorn's parser.

gunicorn's request parser and ``wsgi.create`` cost about 75 us per request on a 2-core
machine (header policy, limits, proxy and forwarded-header handling, ~19 config lookups),
more than the rest of the server's work for a batched request. The keep-alive worker
already holds each request whole (:mod:`serving.server.framing` found its end), so for
the requests clients hammer (``/score`` and ``/v2/...``) :class:`LeanReader` reads the
request line and header block itself and builds the same WSGI environ gunicorn would.

It reads only what it can read with certainty, and only plain requests: ``GET`` or
``POST``, ``HTTP/1.1``, an origin-form target of unreserved characters, header names that
are tokens without ``_``, values of printable ASCII and tabs, no repeated field, no
``Transfer-Encoding``, ``Expect``, ``Upgrade`` or scheme-setting proxy header, a
``Connection`` of ``keep-alive`` or ``close``, and a header block within gunicorn's
limits. Anything else returns None and goes to gunicorn's parser as before, so gunicorn's
answers to bad and unusual requests are unchanged; the response is still gunicorn's
(:class:`serving.server.wire.CoalescingResponse`).

Hand-written: gunicorn has no API that builds an environ from parts already read, and its
C parser (``gunicorn_h1c``) replaces only the header split (117 -> 106 us per request).
"""

from __future__ import annotations

import io
import os
import re
from typing import Any

from gunicorn import SERVER_SOFTWARE, glogging, util
from gunicorn import config as gconfig
from gunicorn.http.wsgi import FileWrapper, WSGIErrorsWrapper

_REQUEST_LINE = re.compile(rb"(GET|POST) (/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*) HTTP/1\.1")
"""The plain request line: no fragment, no absolute form, printable ASCII only."""

_FIELD_LINES = re.compile(rb"(?:[!#$%&'*+\-.^`|~0-9A-Za-z]+:[\t\x20-\x7e]*\r\n)*")
"""Header lines (each ending in CRLF): token names without ``_``, ASCII values, no folding."""

_REFUSED = frozenset({"TRANSFER-ENCODING", "EXPECT", "UPGRADE", "TE"})
"""Fields whose handling is left to gunicorn (framing, 100-continue, protocol switches)."""

DEFAULT_PREFIXES = ("/score", "/v2/")


class LeanRequest:
    """What gunicorn's ``Response`` and the worker read of a request gunicorn did not parse
    (the attributes of ``gunicorn.http.message.Request`` they use)."""

    __slots__ = ("body", "headers", "method", "must_close", "path", "query", "uri", "version")

    def __init__(
        self, method: str, uri: str, path: str, query: str, headers: list[tuple[str, str]]
    ) -> None:
        self.method = method
        self.uri = uri
        self.path = path
        self.query = query
        self.headers = headers
        """(NAME, value) pairs, names in upper case, as gunicorn's."""
        self.version = (1, 1)
        self.must_close = False
        self.body = None
        """Not read here: the body is the environ's ``wsgi.input``."""

    def should_close(self) -> bool:
        """``Connection: close`` was sent (HTTP/1.1 keeps the connection otherwise)."""
        return self.must_close

    def force_close(self) -> None:
        """Close the connection after the response."""
        self.must_close = True


class SharedErrors(WSGIErrorsWrapper):  # type: ignore[misc]
    """gunicorn's ``wsgi.errors``, made once per reader rather than once per request (an
    IOBase made and finalised per request was 3 % of a batched request's time).

    gunicorn's looks up the error log's streams when it is made; this one at each write, so
    it follows a log file reopened after it was made (``SIGUSR1``). Closing it does nothing:
    every request gets the same one, and one app's ``close()`` must not break the next.
    """

    def __init__(self, cfg: Any) -> None:
        self._cfg = cfg

    @property
    def streams(self) -> list[Any]:
        """The streams gunicorn's wrapper would write to now."""
        return list(WSGIErrorsWrapper(self._cfg).streams)

    def close(self) -> None:
        """Nothing: shared by every request."""


class LeanReader:
    """Reads plain requests on the hot routes into (:class:`LeanRequest`, environ)."""

    def __init__(
        self,
        cfg: Any,
        *,
        tls: bool,
        access_log: bool = False,
        prefixes: tuple[str, ...] = DEFAULT_PREFIXES,
    ):
        """``access_log``: gunicorn's logger writes access lines (it reads gunicorn's
        request object, which this reader does not build)."""
        self.enabled = _usable(cfg) and not access_log
        """False where gunicorn's settings ask for what this reader does not do."""
        self._errors = SharedErrors(cfg)
        self._prefixes = prefixes
        # gunicorn's limits where they are set, else its defaults (a value of 0 can mean
        # unlimited or the default, depending on the setting): longer heads go to gunicorn
        self._line_limit = _limit(cfg.limit_request_line, 4094, 8190)
        self._field_limit = _limit(cfg.limit_request_fields, 100, 32768)
        self._field_size = _limit(cfg.limit_request_field_size, 8190, 1 << 20)
        self._secure = frozenset(name.upper() for name in cfg.secure_scheme_headers)
        self._base = {
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": cfg.workers > 1,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SCRIPT_NAME": "",
            "wsgi.url_scheme": "https" if tls else "http",
        }

    def read(
        self, data: bytes | bytearray, sock: Any, client: Any, server: Any
    ) -> tuple[LeanRequest, dict[str, Any]] | None:
        """The request in ``data`` (exactly one whole request, as framed) and its environ,
        or None to have gunicorn parse it."""
        head_end = data.find(b"\r\n\r\n")
        line_end = data.find(b"\r\n")
        if head_end < 0 or line_end > self._line_limit or head_end + 2 > self._field_size:
            return None
        match = _REQUEST_LINE.fullmatch(data, 0, line_end)
        if match is None or not isinstance(client, tuple) or not isinstance(server, tuple):
            return None
        uri = match.group(2).decode("ascii")
        path, _, query = uri.partition("?")
        if path.startswith("//") or not path.startswith(self._prefixes):
            return None
        body = bytes(data[head_end + 4 :])
        fields = bytes(data[line_end + 2 : head_end + 2])
        if _FIELD_LINES.fullmatch(fields) is None:
            return None
        lines = fields.decode("ascii").split("\r\n")
        lines.pop()  # after the last CRLF
        if len(lines) > self._field_limit:
            return None
        method = match.group(1).decode("ascii")
        req = LeanRequest(method, uri, path, query, [])
        environ = dict(self._base)
        if not self._fields(lines, req, environ):
            return None
        length = environ.get("CONTENT_LENGTH")
        if len(body) != (int(length) if length is not None and length.isdigit() else 0):
            return None  # framed otherwise than this reader would (never, from the worker)
        environ["wsgi.errors"] = self._errors
        environ["wsgi.input"] = io.BytesIO(body)
        environ["gunicorn.socket"] = sock
        environ["REQUEST_METHOD"] = method
        environ["QUERY_STRING"] = query
        environ["RAW_URI"] = uri
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
        environ["SERVER_NAME"] = server[0]
        environ["SERVER_PORT"] = str(server[1])
        environ["PATH_INFO"] = util.unquote_to_wsgi_str(path) if "%" in path else path
        return req, environ

    def _fields(self, lines: list[str], req: LeanRequest, environ: dict[str, Any]) -> bool:
        """Put the header fields in ``req`` and ``environ`` as gunicorn does; False for a
        field left to gunicorn."""
        headers = req.headers
        for line in lines:
            name, _, value = line.partition(":")
            name = name.upper()
            value = value.strip(" \t")
            if name in _REFUSED or name in self._secure:
                return False
            if name == "CONTENT-TYPE":
                key = "CONTENT_TYPE"
            elif name == "CONTENT-LENGTH":
                key = "CONTENT_LENGTH"
            else:
                key = "HTTP_" + name.replace("-", "_")
                if name == "CONNECTION":
                    token = value.lower()
                    if token not in ("keep-alive", "close"):
                        return False
                    req.must_close = token == "close"
            if key in environ:  # a repeated field: gunicorn joins or refuses it
                return False
            environ[key] = value
            headers.append((name, value))
        return True


def _limit(value: int, default: int, most: int) -> int:
    return min(value, most) if value > 0 else default


def _usable(cfg: Any) -> bool:
    """Whether gunicorn's settings leave the plain request as this reader reads it (and
    no hook of gunicorn's reads more of the request than :class:`LeanRequest` has)."""
    return (
        cfg.pre_request is gconfig.PreRequest.default
        and cfg.post_request is gconfig.PostRequest.default
        and cfg.proxy_protocol in ("off", False, None)
        and not os.environ.get("SCRIPT_NAME")
        and not cfg.casefold_http_method
        and not cfg.permit_obsolete_folding
        and cfg.header_map == "drop"
    )


def gunicorn_access_log(cfg: Any, log: Any) -> bool:
    """Whether gunicorn's logger ``log`` does something with each request: writes access
    lines (``--access-logfile`` and the like; the server's own line is
    :data:`serving.server.logs.ACCESS_LOGGER`'s) or is a logger class of its own
    (``--statsd-host`` switches to one that counts requests)."""
    return bool(
        type(log).access is not glogging.Logger.access
        or cfg.accesslog
        or cfg.logconfig
        or cfg.logconfig_dict
        or getattr(cfg, "logconfig_json", None)
        or cfg.syslog
    )
