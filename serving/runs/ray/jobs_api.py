"""A client of a Ray cluster's Jobs REST API (the head's dashboard port, 8265 by default).

Why by hand: Ray's own ``JobSubmissionClient`` needs the whole ``ray`` package in the
platform's environment (a 80 MB wheel with its own pinned dependencies); the REST API it
wraps is small and documented (``/api/jobs/``, ``/api/packages/``), so the platform speaks
it with ``requests`` and only the nodes carry Ray.

A working directory or a Python module is sent as a zip uploaded to the cluster's own
storage (``PUT /api/packages/gcs/_ray_pkg_<hash>.zip``) and named in the job's
``runtime_env`` by its ``gcs://`` URI, as Ray's client does; an upload is skipped when the
cluster has the package already (the name is the content's hash).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from serving.errors import ServingError

TIMEOUT_S = 10.0
UPLOAD_TIMEOUT_S = 120.0
LOGS_TIMEOUT_S = 3.0
"""The logs come from the job's node; a lost one must not hold the poll long."""
SKIPPED = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
NOT_LOST = ("Job entrypoint command failed", "runtime_env setup failed")
"""How Ray's messages begin for a job whose script exited non-zero, or whose environment
could not be set up (retrying would fail the same way)."""


class RayUnreachable(ServingError):
    """The head's dashboard did not answer."""


class RayApiError(ServingError):
    """The head answered with an error."""


@dataclass(frozen=True)
class JobState:
    """One job as the head reports it."""

    submission_id: str
    status: str
    message: str
    driver_exit_code: int | None = None
    """Set when the script's process ended; None when it never did (its node was lost)."""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def lost(self) -> bool:
        """Failed without the script ending: its node (or Ray's processes for it) died."""
        return (
            self.status == "FAILED"
            and self.driver_exit_code is None
            and not self.message.startswith(NOT_LOST)
        )


def _files(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file() and not name.endswith(".pyc"):
                yield path


def zip_folder(
    folder: Path, *, parent: bool = False, extra: Mapping[str, bytes] | None = None
) -> bytes:
    """``folder``'s files as a zip (``parent``: under the folder's own name, as a module),
    and ``extra`` files (name -> bytes, mode 0600) at its top; stable bytes for the same
    content, so the hash names the content."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _files(folder):
            name = path.relative_to(folder).as_posix()
            info = zipfile.ZipInfo(f"{folder.name}/{name}" if parent else name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
            archive.writestr(info, path.read_bytes())
        for name, data in (extra or {}).items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100600 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


class RayJobs:
    """The Jobs API of the head at ``address`` (``http://HEAD:8265``)."""

    def __init__(self, address: str, *, timeout: float = TIMEOUT_S) -> None:
        self.address = address.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # the head is on a private network, never proxied

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, f"{self.address}{path}", **kwargs)
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise RayUnreachable(
                f"the Ray head at {self.address} does not answer ({reason})",
                hint="check that the cluster is up ('serving compute show NAME')",
            ) from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._call(method, path, **kwargs)
        if answer.status_code >= 400:
            text = " ".join(answer.text.split())[-300:]
            raise RayApiError(f"the Ray head at {self.address} refused {path}: {text}")
        return answer.json() if answer.content else None

    def version(self) -> str:
        """The cluster's Ray version."""
        return str(self._json("GET", "/api/version")["ray_version"])

    def upload(self, data: bytes) -> str:
        """The ``gcs://`` URI of a zip, uploaded unless the cluster has it already."""
        name = f"_ray_pkg_{hashlib.sha256(data).hexdigest()[:32]}.zip"
        path = f"/api/packages/gcs/{name}"
        if self._call("GET", path).status_code != 200:
            self._json("PUT", path, data=data, timeout=UPLOAD_TIMEOUT_S)
        return f"gcs://{name}"

    def submit(self, body: dict[str, Any]) -> str:
        """Submit a job (``POST /api/jobs/``); its submission id."""
        return str(self._json("POST", "/api/jobs/", json=body)["submission_id"])

    def state(self, submission_id: str) -> JobState:
        data = self._json("GET", f"/api/jobs/{submission_id}")
        code = data.get("driver_exit_code")
        return JobState(
            submission_id,
            str(data["status"]),
            str(data.get("message") or ""),
            code if isinstance(code, int) else None,
        )

    def logs(self, submission_id: str, timeout: float = LOGS_TIMEOUT_S) -> str:
        """The job's whole output so far."""
        path = f"/api/jobs/{submission_id}/logs"
        return str(self._json("GET", path, timeout=timeout).get("logs") or "")

    def stop(self, submission_id: str) -> None:
        self._json("POST", f"/api/jobs/{submission_id}/stop")

    def jobs(self) -> list[JobState]:
        return [
            JobState(str(j.get("submission_id")), str(j["status"]), str(j.get("message") or ""))
            for j in self._json("GET", "/api/jobs/")
            if j.get("submission_id")
        ]

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes (the State API), each with its total resources."""
        data = self._json("GET", "/api/v0/nodes", params={"limit": 1000, "detail": 1})
        return list(data["data"]["result"]["result"])

    def available(self) -> dict[str, float]:
        """Free resources across alive nodes (``/api/cluster_status``)."""
        data = self._json("GET", "/api/cluster_status", params={"format": 0})
        usage = data["data"]["clusterStatus"]["loadMetricsReport"]["usage"]
        return {k: float(total) - float(used) for k, (used, total) in usage.items()}
