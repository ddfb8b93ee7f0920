"""Runs on a Docker compute: one container per run, from the environment's image.

``prepare`` builds (or reuses) the same environment image the deploy side builds (base ->
runtime flavour -> environment, keyed by the environment's hash). ``start`` runs the
environment's interpreter on the plan's script in a container (:func:`container_kwargs`,
pure and unit-tested):

* the workspace folder read-write, and each of ``plan.mounts`` read-only, at the same
  paths as on this machine, so every path in the plan and its variables holds inside;
* the host's ``serving`` package folder read-only at its own path, so the ``PYTHONPATH``
  of ``plan.env`` (host folders: the serving package's parent and the compat folders inside
  it) means the same inside. A ``PYTHONPATH`` entry that is the package's parent shows only
  ``serving/`` there (never the rest of, say, the host's site-packages); other entries that
  are folders on this machine are mounted read-only at their paths;
* the host user's uid:gid (files written into the workspace belong to the user, as with
  local runs), ``HOME=/tmp``; no network unless the compute allows it; the compute's CPU
  and memory limits (swap included, so running out of memory kills instead of swapping);
* labels naming the run, the workspace and the compute; an init process as PID 1, so
  ``terminate`` stops the whole tree.

The container's output is appended to ``plan.std_log`` while it runs; the container is
removed once its exit has been read.

A run that reports to its workspace server (``plan.report``: submitted through the
server's API) gets no workspace folder at all: its working copy is put into the container
(``/tmp/serving-run``, owned by the run's user) before it starts, and the script runs under
:mod:`serving.runs.remote_entry`, which sends ``./outputs`` and ``./logs`` to the server at
the end; metrics, tags and models go through the API with the run's token. Such a
container uses the host's network (``network_mode="host"``): the server binds loopback by
default, and a container on a bridge network cannot reach the host's loopback (binding the
server to the bridge gateway as well would expose the API to every container on that
bridge, not only the run's). The data references' folders are still mounted read-only.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import serving
from serving.config import PlatformSettings
from serving.environments import EnvSpec
from serving.errors import ServingError
from serving.images.build import ImageBuilder
from serving.images.dockerfile import ENV_PYTHON
from serving.images.engine import EngineUser
from serving.proc import file_lock
from serving.runs import records as rec
from serving.runs.compute import COMPUTES_DIR, ComputeRecord
from serving.runs.execution import Exit, Plan, Progress
from serving.workspace import Workspace

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

RUN_LABEL = "serving.run"
WORKSPACE_LABEL = "serving.workspace"
"""The deploy side's label key too, so workspace clean-ups find run containers."""
COMPUTE_LABEL = "serving.compute"
ROLE_LABEL = "serving.role"
DROPPED_ENV = ("PATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH")
"""Host variables that would break the image's interpreter if a plan carried them."""
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "50m", "max-file": "2"}}
LOG_JOIN_S = 10.0
REMOTE_WORK_DIR = "/tmp/serving-run"
"""Where a reporting run's working copy is put inside its container."""


def container_name(run_id: str) -> str:
    return f"serving-run-{run_id}"


def package_folder() -> Path:
    """The host's ``serving`` package folder."""
    return Path(serving.__file__).resolve().parent


def _inside(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without those inside another of them, in order, without repeats."""
    unique = list(dict.fromkeys(paths))
    return [p for p in unique if not _inside(p, [q for q in unique if q != p])]


def volumes(plan: Plan, package: Path) -> dict[str, dict[str, str]]:
    """Bind mounts: workspace (and run and work folders outside it) read-write; the plan's
    mounts, the serving package and other ``PYTHONPATH`` folders read-only."""
    writable = [] if plan.report else _outermost([plan.workspace, plan.run_dir, plan.work_dir])
    binds: dict[str, dict[str, str]] = {str(p): {"bind": str(p), "mode": "rw"} for p in writable}
    read_only = [m.host for m in plan.mounts if m.read_only]
    binds.update(
        {str(m.host): {"bind": str(m.host), "mode": "rw"} for m in plan.mounts if not m.read_only}
    )
    read_only.append(package)
    for entry in plan.env.get("PYTHONPATH", "").split(os.pathsep):
        path = Path(entry) if entry else None
        if path is None or not path.is_absolute() or path == package.parent:
            continue  # the parent shows the package alone
        if not _inside(path, [*writable, *read_only]) and path.is_dir():
            read_only.append(path)
    for path in _outermost(read_only):
        if not _inside(path, writable):
            binds.setdefault(str(path), {"bind": str(path), "mode": "ro"})
    return binds


def container_env(plan: Plan) -> dict[str, str]:
    """The plan's variables (host-only ones dropped) over the run's defaults."""
    env = {
        "HOME": "/tmp",
        "PYTHONUNBUFFERED": "1",
        "USER": os.environ.get("USER", "serving"),
    }
    env.update({k: v for k, v in plan.env.items() if k not in DROPPED_ENV})
    return env


def container_kwargs(
    plan: Plan,
    image: str,
    compute: ComputeRecord,
    *,
    uid: int,
    gid: int,
    package: Path,
    host_cpus: int | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``containers.run`` for the plan (pure; unit-tested). The CPU
    limit is at most ``host_cpus`` (Docker refuses more than the machine has)."""
    spec = compute.spec
    kwargs: dict[str, Any] = {
        "image": image,
        "entrypoint": [ENV_PYTHON],
        "command": list(plan.script_argv),
        "name": container_name(plan.run_id),
        "working_dir": str(plan.work_dir),
        "environment": container_env(plan),
        "user": f"{uid}:{gid}",
        "volumes": volumes(plan, package),
        "labels": {
            RUN_LABEL: plan.run_id,
            WORKSPACE_LABEL: str(plan.workspace),
            COMPUTE_LABEL: compute.name,
            ROLE_LABEL: "run",
        },
        "init": True,
        "healthcheck": {"test": ["NONE"]},
        "log_config": LOG_CONFIG,
        "detach": True,
    }
    if plan.report is not None:
        kwargs["command"] = ["-m", "serving.runs.remote_entry", REMOTE_WORK_DIR, *plan.script_argv]
        kwargs["working_dir"] = "/tmp"
        kwargs["network_mode"] = "host"  # the server listens on the host's loopback
    elif not spec.network:
        kwargs["network_mode"] = "none"
    if spec.cpu:
        cpus = min(spec.cpu, host_cpus) if host_cpus else spec.cpu
        kwargs["nano_cpus"] = int(cpus * 1e9)
    if spec.memory_bytes:
        kwargs["mem_limit"] = spec.memory_bytes
        kwargs["memswap_limit"] = spec.memory_bytes
    return kwargs


def _host_env_spec() -> EnvSpec:
    """The environment of a user-managed plan on Docker: the runtime alone, on this
    interpreter's Python version."""
    return EnvSpec(name="user-managed", python=f"{sys.version_info[0]}.{sys.version_info[1]}")


def working_copy_tar(work_dir: Path, out: IO[bytes], *, uid: int, gid: int) -> None:
    """The working copy as a tar for ``put_archive`` into ``/tmp``: everything under
    ``serving-run/``, owned by the run's user; links (the live ``logs`` link to the run
    folder) are left out, ``logs/`` is an empty folder."""
    root = Path(REMOTE_WORK_DIR).name

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if info.issym() or info.islnk():
            return None
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(work_dir, root, filter=owned)
        logs = tarfile.TarInfo(f"{root}/logs")
        logs.type, logs.mode = tarfile.DIRTYPE, 0o755
        if not (work_dir / "logs").is_dir() or (work_dir / "logs").is_symlink():
            tar.addfile(owned(logs))  # type: ignore[arg-type]


def environment_image(builder: ImageBuilder, spec: EnvSpec, progress: Progress) -> str:
    """``spec``'s image tag, built when missing: one build per environment at a time, even
    across supervisors (a lock in the workspace's ``computes/`` folder)."""
    lock = builder.ws.path / COMPUTES_DIR / f"build-{spec.short_hash}.lock"
    with file_lock(lock, progress, f"waiting for another build of environment {spec.name}"):
        flavour = builder.flavour(spec, "auto", progress)
        return builder.environment(spec, flavour, progress).tag


class DockerExecution:
    """One run's container: its output is copied to the run's log by a thread."""

    started_status = rec.RUNNING

    def __init__(
        self, client: DockerClient, container: Container, std_log: Path, *, since: int | None = None
    ) -> None:
        self.client = client
        self.container = container
        self.std_log = std_log
        self._since = since
        self._exit: Exit | None = None
        self._lock = threading.Lock()
        self._copier = threading.Thread(target=self._copy_logs, daemon=True)
        self._copier.start()

    def _copy_logs(self) -> None:
        import docker

        self.std_log.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(docker.errors.APIError, OSError), self.std_log.open("ab") as out:
            chunks = self.container.logs(
                stream=True, follow=True, stdout=True, stderr=True, since=self._since
            )
            for chunk in chunks:
                out.write(chunk)
                out.flush()

    def wait(self, timeout_s: float | None) -> Exit | None:
        if self._exit is not None:
            return self._exit
        import requests

        try:
            if timeout_s is None:
                self.container.wait()
            else:
                self.container.wait(timeout=max(timeout_s, 0.001))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None
        return self._finish()

    def _finish(self) -> Exit:
        """Read the exit from the container's state, then remove the container."""
        import docker

        with self._lock:
            if self._exit is not None:
                return self._exit
            try:
                self.container.reload()
                state = self.container.attrs.get("State") or {}
                found = Exit(int(state.get("ExitCode", 1)), bool(state.get("OOMKilled")))
            except docker.errors.NotFound:
                found = Exit(1)
            self._copier.join(LOG_JOIN_S)
            with contextlib.suppress(docker.errors.APIError):
                self.container.remove(force=True)
            self._exit = found
            return found

    def terminate(self, grace_s: float) -> Exit:
        """SIGTERM to the container's init (passed on to the script), SIGKILL to the whole
        container after ``grace_s``; then remove it."""
        import docker

        if self._exit is None:
            with contextlib.suppress(docker.errors.NotFound):
                self.container.stop(timeout=max(0, math.ceil(grace_s)))
        return self._finish()

    def describe(self) -> dict[str, Any]:
        return {"container": self.container.id}


class DockerExecutor(EngineUser):
    """Runs plans whose compute is a Docker compute (client made on first use)."""

    def __init__(
        self, settings: PlatformSettings | None = None, client: DockerClient | None = None
    ) -> None:
        super().__init__(settings, client)
        self._images: dict[str, str] = {}

    def image_for(self, plan: Plan, progress: Progress) -> str:
        """The environment image's tag, built when missing (one build per environment at a
        time, even across supervisors)."""
        spec = EnvSpec.from_dict(plan.environment) if plan.environment else _host_env_spec()
        if not plan.environment:
            progress(
                f"user-managed environment: running in the runtime image of Python {spec.python}"
            )
        builder = ImageBuilder(Workspace.open(plan.workspace), self.settings, self.client)
        return environment_image(builder, spec, progress)

    def prepare(self, plan: Plan, progress: Progress) -> None:
        self._images[plan.run_id] = self.image_for(plan, progress)

    def start(self, plan: Plan) -> DockerExecution:
        import docker

        image = self._images.get(plan.run_id) or self.image_for(plan, lambda _line: None)
        compute = ComputeRecord.from_dict(plan.compute)
        kwargs = container_kwargs(
            plan,
            image,
            compute,
            uid=os.getuid(),
            gid=os.getgid(),
            package=package_folder(),
            host_cpus=os.cpu_count(),
        )
        self._remove_leftover(kwargs["name"])
        plan.std_log.parent.mkdir(parents=True, exist_ok=True)
        try:
            if plan.report is None:
                container = self.client.containers.run(**kwargs)
            else:
                container = self._start_reporting(plan, kwargs)
        except docker.errors.APIError as exc:
            detail = " ".join(str(exc.explanation or exc).split())[:300]
            raise ServingError(
                f"cannot start the container of run {plan.run_id}: {detail}",
                hint="check that Docker can bind-mount the workspace folder",
            ) from exc
        return DockerExecution(self.client, container, plan.std_log)

    def _start_reporting(self, plan: Plan, kwargs: dict[str, Any]) -> Container:
        """Create the container, put the working copy in, start it; a container that
        does not start is removed (it holds the run's token in its environment)."""
        import docker

        kwargs = {k: v for k, v in kwargs.items() if k != "detach"}
        container = self.client.containers.create(**kwargs)
        try:
            with tempfile.TemporaryFile() as archive:
                working_copy_tar(plan.work_dir, archive, uid=os.getuid(), gid=os.getgid())
                archive.seek(0)
                container.put_archive("/tmp", archive)
            container.start()
        except BaseException:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            raise
        return container

    def attach(self, container_id: str, std_log: Path) -> DockerExecution | None:
        """The execution of a container started earlier (None when it is gone); its output
        from now on is appended to ``std_log``."""
        import docker

        try:
            container = self.client.containers.get(container_id)
        except docker.errors.NotFound:
            return None
        return DockerExecution(self.client, container, std_log, since=int(time.time()))

    def _remove_leftover(self, name: str) -> None:
        """A container of the same run left by a supervisor that died (same run id)."""
        import docker

        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(name).remove(force=True)
