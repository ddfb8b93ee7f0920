"""Runs on a Ray compute: each run is one Ray job, submitted through the Jobs REST API.

``start`` uploads the run's working copy (the job's ``working_dir``) and the platform's
``serving`` package (a ``py_modules`` entry, so nodes need only Ray and the environment's
packages), then submits ``python -m serving.runs.ray.node_entry SCRIPT ARGS`` with the
run's variables and resources (``entrypoint_num_cpus``/``_memory``/``_gpus``). The script
reports metrics, files and outputs through the workspace server with the run's own token,
exactly as a Docker run of a server's workspace does (:mod:`serving.runs.remote_entry`).
A folder workspace's run on a cluster started here gets a server of its own for the run
(:mod:`serving.runs.ray.run_server`, started by the supervisor); on an attached cluster it
is refused in one line (its nodes must reach a server the team runs).

Where the nodes reach the server: a cluster started by ``compute up`` records its Docker
network, and the supervisor relays from that network's gateway to the server's loopback
port (:mod:`serving.runs.ray.relay`); an attached cluster records ``server_url``, an
address of the server its nodes can reach (the server must listen there).

The job's state is polled: PENDING is Queued (waiting for the cluster's resources; the
run shows Queued from its submission, never Running before Ray runs it), RUNNING is
Running, SUCCEEDED exit 0, FAILED and STOPPED a failure with Ray's message. The job's
output is copied into the run's log as it grows: whole while small, then through the
head's log tail websocket (:mod:`serving.runs.ray.log_tail`), and whole once at the end.
A head that stops answering for :data:`HEAD_LOST_S` ends the run Failed, naming the
address.
"""

from __future__ import annotations

import functools
import shlex
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import serving
from serving.environments import EnvSpec
from serving.errors import ServingError, UserInputError
from serving.runs import records as rec
from serving.runs.compute import ComputeRecord
from serving.runs.execution import Exit, Plan, Progress
from serving.runs.ray.image import RAY_VERSION
from serving.runs.ray.jobs_api import LOGS_TIMEOUT_S, RayJobs, RayUnreachable, zip_folder
from serving.runs.ray.log_tail import LogTail, tail_url
from serving.runs.ray.relay import Relay
from serving.runs.reporting import TOKEN_ENV, TOKEN_FILE, V1_TOKEN_ENV

if TYPE_CHECKING:
    from serving.runs.store import RunStore

ATTEMPT_FILE = ".serving-attempt"
"""In the job's working directory: which submission of the run this is (1, 2, ...)."""
PACKAGE_LIMIT_BYTES = 100 * 2**20
"""The largest package a Ray head takes (its dashboard refuses bigger uploads)."""
HEAD_LOST_S = 30.0
STATE_POLL_S = 0.5
PENDING_POLL_S = 2.0
"""A job still waiting for resources this long after submit is asked less often: a sweep
queues many on the head, whose dashboard also serves the running ones."""
PENDING_FAST_S = 5.0
LOG_POLL_S = 1.0
LOG_POLL_MAX_S = 30.0
LOG_RATE_BYTES = 256 * 1024
"""Where no tail is open (:mod:`serving.runs.ray.log_tail`), the output is copied with
Ray's REST call, which gives a job's whole output each time: past this many bytes the copy
runs less often (every size / LOG_RATE_BYTES seconds), so a chatty long job costs at most
about this much transfer per second (but a copy at least every LOG_POLL_MAX_S); the last
copy at the end is always whole."""
TAIL_RETRY_S = 30.0
MARK_BYTES = 64
RESYNC_BYTES = 4096
TAIL_FROM_BYTES = LOG_RATE_BYTES
"""Output past this size is followed through the head's log tail instead of whole copies:
below it a copy every LOG_POLL_S puts a line in the run's log sooner (Ray's tail reads the
job's log file about once a second; measured: a first line 0.5 s later through the tail)."""
STOP_WAIT_S = 10.0
PENDING_STOP_S = 2.0
"""How long a cancel waits for a PENDING job to end (Ray applies the stop once the job is
placed; a cancel must stay well inside the callers' waits, the studio's 5 s)."""
DROPPED = ("PATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "PYTHONPATH", "HOME")
NO_SERVER = (
    "compute {name} is a Ray cluster attached by address: its runs report through a "
    "workspace server its nodes can reach, and this workspace has none; start one "
    "('serving server start --host ...') and submit through it"
)


@dataclass(frozen=True)
class RayExit(Exit):
    """An end with Ray's own words for it."""

    reason: str = ""

    def describe(self) -> str:
        return self.reason or super().describe()


def job_body(plan: Plan, compute: ComputeRecord, working_dir: str, module: str) -> dict[str, Any]:
    """The ``POST /api/jobs/`` body for the plan (pure). The run's token is not in it:
    Ray's job list shows a job's variables to whoever reaches the dashboard, so the token
    travels as a file in the working directory (:data:`TOKEN_FILE`)."""
    hidden = (*DROPPED, "SERVING_RUN_WORKSPACE", TOKEN_ENV, V1_TOKEN_ENV)
    env = {k: v for k, v in plan.env.items() if k not in hidden}
    body: dict[str, Any] = {
        "entrypoint": shlex.join(
            ["python", "-m", "serving.runs.ray.node_entry", *plan.script_argv]
        ),
        "submission_id": f"serving-{plan.run_id}",
        "runtime_env": {"working_dir": working_dir, "py_modules": [module], "env_vars": env},
        "metadata": {"serving_run": plan.run_id, "serving_compute": compute.name},
        "entrypoint_num_cpus": compute.spec.cpu or 1,
    }
    if compute.spec.memory_bytes:
        body["entrypoint_memory"] = compute.spec.memory_bytes
    if compute.spec.gpus:
        body["entrypoint_num_gpus"] = compute.spec.gpus
    return body


@functools.cache
def package_zip() -> bytes:
    """``serving/`` as a module zip, made once per process (the package does not change
    while a supervisor runs); the cluster keeps zips under their content hash, so the same
    package is uploaded once per cluster."""
    return zip_folder(Path(serving.__file__).resolve().parent, parent=True)


class RayExecution:
    """One run's Ray job (or jobs: a job whose node was lost is submitted again, up to the
    run's ``max_retries``; ``submit(attempt)`` submits one and gives its id)."""

    started_status = rec.QUEUED

    def __init__(
        self, jobs: RayJobs, submit: Callable[[int], str], plan: Plan, relay: Relay | None
    ) -> None:
        self.jobs = jobs
        self._submit = submit
        self.attempt = 1
        self.submission_id = submit(1)
        self.plan = plan
        self.relay = relay
        self._exit: Exit | None = None
        self._copied = 0
        """Bytes of the job's output in the run's log (the tail's and the copies' count)."""
        self._log_lock = threading.Lock()
        self._tail: LogTail | None = None
        self._tailed = 0
        """Bytes the open tail has sent (it starts from the job's first byte)."""
        self._tail_at = 0.0
        self._last = b""
        """The run log's last bytes from the job (:meth:`_resume_at` looks for them)."""
        self._logged_at = 0.0
        self._lost_since: float | None = None
        self._shown = self.started_status
        """The status last set on the run's record (the supervisor sets the first)."""
        self._started = time.monotonic()
        self._next_poll = 0.0

    def wait(self, timeout_s: float | None) -> Exit | None:
        """Poll the job at its own pace (however often the supervisor calls this): every
        :data:`STATE_POLL_S`, or :data:`PENDING_POLL_S` for a job long PENDING."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else 1e9)
        while self._exit is None:
            if time.monotonic() >= self._next_poll:
                self._poll()
                self._next_poll = time.monotonic() + self._interval()
            if self._exit is not None or time.monotonic() >= deadline:
                break
            time.sleep(max(0.0, min(self._next_poll, deadline) - time.monotonic()))
        return self._exit

    def _interval(self) -> float:
        waiting = self._shown == rec.QUEUED
        if waiting and time.monotonic() - self._started > PENDING_FAST_S:
            return PENDING_POLL_S
        return STATE_POLL_S

    def _poll(self) -> None:
        try:
            state = self.jobs.state(self.submission_id)
        except RayUnreachable:
            self._lost_since = self._lost_since or time.monotonic()
            if time.monotonic() - self._lost_since >= HEAD_LOST_S:
                reason = f"was lost with the Ray head at {self.jobs.address} "
                self._end(RayExit(1, reason=reason + f"(no answer for {HEAD_LOST_S:g} s)"))
            return
        self._lost_since = None
        if state.status == "RUNNING":
            self._follow()
        tailing = self._tail is not None and self._tail.alive
        every = min(max(LOG_POLL_S, self._copied / LOG_RATE_BYTES), LOG_POLL_MAX_S)
        due = time.monotonic() - self._logged_at >= every and state.status != "PENDING"
        if state.terminal:  # the tail stops; the last copy takes what it had not sent
            self._close_tail()
            self._copy_logs()
        elif due and not tailing:  # a PENDING job has printed nothing
            self._copy_logs()
        ran = state.status == "SUCCEEDED" or state.driver_exit_code is not None
        self._show("RUNNING" if state.terminal and ran else state.status)
        if state.status == "SUCCEEDED":
            self._end(Exit(0))
        elif state.lost and self.attempt <= self.plan.max_retries:
            self._retry(state.message)
        elif state.status in ("FAILED", "STOPPED"):
            words = state.message or f"the Ray job {state.status.lower()}"
            self._end(RayExit(1, reason=f"failed on the Ray cluster: {words}"))

    def _retry(self, why: str) -> None:
        """Submit the run's job again (a new Ray job, the same working copy); the run's log
        says why, and the new job's output follows."""
        self.attempt += 1
        self._close_tail()
        line = (
            f"serving: the Ray job {self.submission_id} was lost ({why.strip() or 'no reason'})"
            f": submitting the run again, attempt {self.attempt} of {self.plan.max_retries + 1}\n"
        )
        with self.plan.std_log.open("a", encoding="utf-8") as out:
            out.write(line)
        try:
            self.submission_id = self._submit(self.attempt)
        except ServingError as exc:
            self._end(RayExit(1, reason=f"was lost on the Ray cluster ({why.strip()}) and "
                              f"could not be submitted again: {exc.one_line()}"))  # fmt: skip
            return
        self._copied, self._shown, self._started = 0, "", time.monotonic()
        self._last = b""
        self._store().update_json(self.plan.run_id, "supervisor", self.describe())

    def _show(self, status: str) -> None:
        """PENDING -> Queued, RUNNING -> Running, in the run's record."""
        wanted = {"PENDING": rec.QUEUED, "RUNNING": rec.RUNNING}.get(status)
        if wanted is None or wanted == self._shown:
            return
        store = self._store()
        if store.get(self.plan.run_id).status in (rec.QUEUED, rec.RUNNING, rec.PREPARING):
            store.set_status(self.plan.run_id, wanted)
        self._shown = wanted

    def _store(self) -> RunStore:
        from serving.runs.store import RunStore
        from serving.workspace import Workspace

        ws = Workspace.open(self.plan.workspace)
        return RunStore(ws.path, ws.db)

    def _follow(self) -> None:
        """Open the tail once the output is large, and again :data:`TAIL_RETRY_S` after
        one ended (a proxy in front of the head closes idle websockets)."""
        if self._copied < TAIL_FROM_BYTES or (self._tail is not None and self._tail.alive):
            return
        if self._tail is not None and time.monotonic() - self._tail_at < TAIL_RETRY_S:
            return
        self._close_tail()
        self._tailed, self._tail_at = 0, time.monotonic()
        url = tail_url(self.jobs.address, self.submission_id)
        self._tail = LogTail(url, self._append, self._log_lock)

    def _copy_logs(self) -> None:
        """Append what the job printed and the run's log lacks, from the whole output (the
        logs come from the node the job runs on: a lost node answers nothing, and the
        state says why soon)."""
        self._logged_at = time.monotonic()
        try:
            wait_s = LOGS_TIMEOUT_S + self._copied / 2**20  # a second more per MiB
            text = self.jobs.logs(self.submission_id, wait_s).encode("utf-8", "replace")
        except ServingError:
            return
        with self._log_lock:
            start = self._resume_at(text)
            if len(text) > start:
                self._write(text[start:])
                self._copied = len(text)

    def _resume_at(self, text: bytes) -> int:
        """Where the whole output goes on from what the run's log holds: at the byte count,
        unless the log's last bytes are found a little off it there (Ray's tail reads the
        file as text: a ``\\r\\n`` split between two reads comes as two newlines), then
        after them: the match nearest the count (repeated lines match more than once), of
        the log's last 64 bytes, else 16, else 4 (a mark holding the split matches none)."""
        at = self._copied
        if not self._last or text[at - len(self._last) : at] == self._last:
            return at
        for size in (64, 16, 4):
            mark, ends = self._last[-size:], []
            near = text.find(mark, max(0, at - RESYNC_BYTES))
            while 0 <= near <= at + RESYNC_BYTES:
                ends.append(near + len(mark))
                near = text.find(mark, near + 1)
            if ends:
                return min(ends, key=lambda end: abs(end - at))
        return at

    def _append(self, piece: str) -> None:
        """The tail's sink (called with the log lock held): the next piece of output, of
        which only what the run's log lacks is written (the tail starts from the top)."""
        data = piece.encode("utf-8", "replace")
        start, self._tailed = self._tailed, self._tailed + len(data)
        if self._tailed > self._copied:
            self._write(data[max(0, self._copied - start) :])

    def _write(self, data: bytes) -> None:
        with self.plan.std_log.open("ab") as out:
            out.write(data)
        self._copied += len(data)
        self._last = (self._last + data)[-MARK_BYTES:]

    def _close_tail(self) -> None:
        if self._tail is not None:
            self._tail.close()
            self._tail = None

    def _end(self, ended: Exit) -> None:
        self._exit = ended
        self._close_tail()
        if self.relay is not None:
            self.relay.close()

    def terminate(self, grace_s: float) -> Exit:
        """Stop the job and wait until Ray says it ended: at most ``grace_s`` (and
        :data:`STOP_WAIT_S` at least), or :data:`PENDING_STOP_S` for a job still PENDING."""
        if self._exit is None:
            try:
                self.jobs.stop(self.submission_id)
                now = time.monotonic()
                deadline, pending_until = now + max(grace_s, STOP_WAIT_S), now + PENDING_STOP_S
                while time.monotonic() < deadline:
                    # a PENDING job is stopped by Ray once placed: one setting up its runtime
                    # environment ends soon, one waiting for resources not (no use waiting)
                    state = self.jobs.state(self.submission_id)
                    if state.terminal or (
                        state.status == "PENDING" and time.monotonic() >= pending_until
                    ):
                        break
                    time.sleep(STATE_POLL_S)
                self._close_tail()
                self._copy_logs()
            except ServingError:
                pass
            self._end(RayExit(-15, reason="stopped on the Ray cluster"))
        assert self._exit is not None
        return self._exit

    def describe(self) -> dict[str, Any]:
        return {"ray_job": self.submission_id, "address": self.jobs.address}


class RayExecutor:
    """Runs plans whose compute is a Ray cluster."""

    def prepare(self, plan: Plan, progress: Progress) -> None:
        compute = ComputeRecord.from_dict(plan.compute)
        version = RayJobs(_address(compute)).version()
        progress(f"Ray cluster {compute.spec.address} answers (Ray {version})")
        if version != RAY_VERSION:
            progress(f"note: the cluster runs Ray {version}, the platform expects {RAY_VERSION}")
        spec = EnvSpec.from_dict(plan.environment) if plan.environment else None
        known = " ".join(compute.spec.notes)
        if spec is not None and compute.spec.docker_network and spec.short_hash not in known:
            progress(
                f"note: the nodes of {compute.name} do not run environment {spec.name} "
                f"({spec.short_hash}): its packages must be on them "
                f"('serving compute up NAME --environment {spec.name}')"
            )

    def start(self, plan: Plan) -> RayExecution:
        compute = ComputeRecord.from_dict(plan.compute)
        if plan.report is None:
            raise UserInputError(NO_SERVER.format(name=compute.name))
        jobs = RayJobs(_address(compute))
        module = jobs.upload(package_zip())
        token = plan.report.token.encode()
        relay, url = _server_url(compute, plan.report.url)
        plan = replace(plan, env=plan.env | replace(plan.report, url=url).variables())

        def submit(attempt: int) -> str:
            # each attempt its own working-directory package: a node unpacks one once,
            # and the entry takes the token file out of it
            extra = {TOKEN_FILE: token, ATTEMPT_FILE: str(attempt).encode()}
            package = zip_folder(plan.work_dir, extra=extra)  # the live logs link left out
            if len(package) > PACKAGE_LIMIT_BYTES:
                raise UserInputError(
                    f"the run's working directory (its snapshot and any datastore folder "
                    f"copied in) zips to {len(package) / 2**20:.0f} MiB; a Ray cluster takes "
                    f"at most {PACKAGE_LIMIT_BYTES // 2**20} MiB: read large data from "
                    "where the nodes can reach it"
                )
            working_dir = jobs.upload(package)
            body = job_body(plan, compute, working_dir, module)
            if attempt > 1:
                body["submission_id"] += f"-{attempt}"
            return jobs.submit(body)

        plan.std_log.parent.mkdir(parents=True, exist_ok=True)
        try:
            return RayExecution(jobs, submit, plan, relay)
        except BaseException:
            if relay is not None:
                relay.close()
            raise


def _address(compute: ComputeRecord) -> str:
    if not compute.spec.address:
        raise UserInputError(f"compute {compute.name} has no Ray address recorded")
    return compute.spec.address


def _server_url(compute: ComputeRecord, url: str) -> tuple[Relay | None, str]:
    """(relay, the server's URL as the nodes reach it)."""
    if compute.spec.server_url:
        return None, compute.spec.server_url
    if not compute.spec.docker_network:
        return None, url
    parts = urllib.parse.urlsplit(url)
    host = compute.spec.docker_gateway or _ask_gateway(compute.spec.docker_network)
    relay = Relay(host, (parts.hostname or "127.0.0.1", parts.port or 80))
    return relay, relay.url


def _ask_gateway(network: str) -> str:
    """The gateway of ``network`` from the Docker Engine (clusters recorded before the
    gateway was kept on the compute)."""
    from serving.images.engine import docker_client
    from serving.runs.ray.cluster import gateway

    client = docker_client()
    try:
        return gateway(client, network)
    finally:
        client.close()
