"""A run reporting to its workspace server instead of a workspace folder (a run on Docker
compute of a server's workspace): the variables that tell the script where, an HTTP
client for its own run's routes, and the metrics writer that batches over it.

The supervisor puts ``SERVING_RUN_SERVER`` (the server's URL), ``SERVING_RUN_TOKEN`` (a
token for this run only, also as v1's ``AZUREML_RUN_TOKEN``) and ``AZUREML_RUN_ID`` in the
container; ``Run.get_context()`` then reports through :class:`RunReporter`. Metrics use
the folder workspace's :class:`~serving.runs.metrics.MetricsWriter` (``run.log`` appends to
a list; a thread sends the batch every ``FLUSH_INTERVAL_S``, when ``BATCH_RECORDS`` are
waiting, and at exit) with its file append replaced by one POST of the same JSON lines.

Standard library only (:mod:`urllib`): training images need not have ``requests``.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from serving.errors import ServingError
from serving.runs import metrics as m

SERVER_ENV = "SERVING_RUN_SERVER"
TOKEN_ENV = "SERVING_RUN_TOKEN"
V1_TOKEN_ENV = "AZUREML_RUN_TOKEN"
TOKEN_FILE = ".serving-run-token"
"""A Ray job's token, as a file in its working directory (a job's variables are shown in
Ray's job list): :mod:`serving.runs.ray.node_entry` moves it into ``TOKEN_ENV``."""
RUN_ENV = "AZUREML_RUN_ID"
TIMEOUT_S = 60.0
RETRIES = (0.5, 1.0, 2.0)
"""Waits before each retry of a metrics batch the server did not take (5xx, no answer)."""


class ReportError(ServingError):
    """The workspace server refused or did not answer a run's report."""


@dataclass(frozen=True)
class Report:
    """Where a run reports: the server's URL and the run's own token."""

    url: str
    token: str

    def variables(self) -> dict[str, str]:
        """What the script's environment gets (and the folder variable it loses)."""
        return {
            SERVER_ENV: self.url,
            TOKEN_ENV: self.token,
            V1_TOKEN_ENV: self.token,
            "AZUREML_SERVICE_ENDPOINT": self.url,
        }


def from_environment() -> tuple[str, RunReporter] | None:
    """(run id, reporter) when this process runs inside a reporting run."""
    url, token, run_id = (os.environ.get(k) for k in (SERVER_ENV, TOKEN_ENV, RUN_ENV))
    if not (url and token and run_id):
        return None
    return run_id, RunReporter(url, token, run_id)


class RunReporter:
    """One run's routes on its server (``/api/v1/runs/<id>/...``)."""

    def __init__(self, url: str, token: str, run_id: str, *, timeout: float = TIMEOUT_S) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.token = token
        self.run_id = run_id
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        """No proxies: the server is on this machine's network (loopback with the host's
        network), never behind a corporate proxy."""

    def _url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        query = f"?{urllib.parse.urlencode(dict(params))}" if params else ""
        return f"{self.base}/runs/{urllib.parse.quote(self.run_id, safe='')}{path}{query}"

    def call(
        self,
        method: str,
        path: str,
        body: bytes | IO[bytes] | None = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        length: int | None = None,
    ) -> Any:
        """One call; the JSON answer. An error answer raises :class:`ReportError` with the
        server's message."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = content_type
            if length is not None:
                headers["Content-Length"] = str(length)
        req = urllib.request.Request(
            self._url(path, params), data=body, method=method, headers=headers
        )
        try:
            with self._opener.open(req, timeout=self.timeout) as answer:
                data = answer.read()
        except urllib.error.HTTPError as exc:
            raise ReportError(_message(exc), hint=f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ReportError(f"cannot reach the workspace server {self.base}: {exc}") from None
        try:
            return json.loads(data) if data else None
        except ValueError:  # a proxy's page: a ReportError, so a background flush goes on
            raise ReportError(f"{self.base} did not answer as a workspace server") from None

    def json(self, method: str, path: str, value: Any) -> Any:
        return self.call(method, path, json.dumps(value).encode("utf-8"))

    # -- what a script reports -------------------------------------------------------------
    def post_metrics(self, data: bytes) -> None:
        """Send a batch of metric lines, retrying while the server is briefly away."""
        for wait in (*RETRIES, None):
            try:
                self.call("POST", "/metrics", data, "application/x-ndjson")
                return
            except ReportError as exc:
                if wait is None or (exc.hint or "").startswith("HTTP 4"):
                    raise
                time.sleep(wait)

    def upload_file(self, name: str, source: Path | IO[bytes]) -> Any:
        if isinstance(source, Path):
            with source.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                return self.call(
                    "POST", "/files", fh, "application/octet-stream", {"name": name}, size
                )
        data = source.read()
        raw = data.encode("utf-8") if isinstance(data, str) else data
        return self.call("POST", "/files", raw, "application/octet-stream", {"name": name})

    def upload_folder(self, name: str, folder: Path) -> list[str]:
        """The folder's plain files (links followed) as one tar, under ``name``."""
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        if not files:
            return []
        with tempfile.TemporaryFile() as spool:
            with tarfile.open(fileobj=spool, mode="w", dereference=True) as tar:
                for path in files:
                    tar.add(path, path.relative_to(folder).as_posix(), recursive=False)
            size = spool.tell()
            spool.seek(0)
            done = self.call("POST", "/files", spool, "application/x-tar", {"name": name}, size)
        return list(done["items"])


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return f"the workspace server answered HTTP {exc.code}"


class HttpMetricsWriter(m.MetricsWriter):
    """:class:`~serving.runs.metrics.MetricsWriter` whose batches go to the server."""

    def __init__(self, reporter: RunReporter) -> None:
        super().__init__(Path(os.devnull))
        self.reporter = reporter
        self.lost = 0

    def _append(self, data: bytes) -> None:
        try:
            self.reporter.post_metrics(data)
        except ReportError as exc:  # a background flush has no caller to raise to
            self.lost += data.count(b"\n")
            print(f"serving: metrics not reported: {exc.one_line()}", file=sys.stderr)
