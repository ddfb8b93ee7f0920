"""The run supervisor: one detached process per submitted run (``python -m
serving.runs.supervisor WORKSPACE RUN_ID``), started by :mod:`serving.runs.submit`.

It owns the run's status from then on: Queued (waiting for a slot on its compute target),
Preparing (environment, working copy, data), Running, Finalizing (``outputs/`` collected),
then Completed, Failed (with the exit status and the log's tail) or Canceled (on SIGTERM
from ``cancel``: the script's whole process tree or container is ended first). Its own
log is ``system_logs/supervisor.txt`` in the run folder.

A run submitted through a workspace server (``report_to`` in its definition) on Docker
or Ray compute reports through that server (a folder workspace's run on a Ray cluster
started here gets a server of its own for the run, :mod:`serving.runs.ray.run_server`):
just before its container or job starts the supervisor mints a token for the run alone
(:mod:`serving.runs.run_tokens`) and hands it over with the URL (``Plan.report``); the
token is revoked when the run ends, whatever the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from serving.errors import ServingError
from serving.proc import tail
from serving.runs import records as rec
from serving.runs import run_tokens
from serving.runs.execution import Execution, Executor, Exit, Mount, Plan
from serving.runs.owner import Canceled, owner_main, say
from serving.runs.records import RunRecord
from serving.runs.store import STD_LOG, WORK_DIR, RunStore

if TYPE_CHECKING:
    from serving.runs.compute import ComputeRecord
    from serving.runs.ray.run_server import RunServer

CANCEL_GRACE_S = 10.0
POLL_S = 0.2
COMPAT_DIR = Path(__file__).resolve().parent.parent / "scoring" / "compat"


class Supervisor:
    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.cancelled = False
        self.execution: Execution | None = None
        self.token_minted = False
        self.run_server: RunServer | None = None

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.cancelled = True

    def check(self) -> None:
        if self.cancelled:
            raise Canceled()

    # -- the whole run ---------------------------------------------------------------------
    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        record = self.store.get(self.run_id)
        if record.terminal:
            return 0
        say(f"supervising run {self.run_id} (pid {os.getpid()})")
        try:
            self._execute(record)
        except Canceled:
            self._end(rec.CANCELED, {"code": "Canceled", "message": "the run was canceled"})
        except ServingError as exc:
            say(f"error: {exc.one_line()}")
            self._end(rec.FAILED, {"code": "ServiceError", "message": exc.one_line()})
        except Exception as exc:
            say(traceback.format_exc())
            self._end(
                rec.FAILED, {"code": "SystemError", "message": f"{type(exc).__name__}: {exc}"}
            )
        finally:
            self._revoke_token()
            if self.run_server is not None:
                self.run_server.close()
            shutil.rmtree(self.store.run_dir(self.run_id) / WORK_DIR, ignore_errors=True)
        return 0

    def _execute(self, record: RunRecord) -> None:
        compute = self._compute(record)
        executor = self._executor(compute)
        self._claim_slot(compute)
        self.check()
        plan = self._plan(record, compute)
        executor.prepare(plan, say)
        self.check()
        plan = self._reporting(record, compute, plan)
        self.execution = executor.start(plan)
        self.store.update_json(self.run_id, "supervisor", self.execution.describe())
        self.store.set_status(self.run_id, self.execution.started_status)
        say(f"running {' '.join(plan.script_argv)}")
        ended = self._wait(self.execution, plan)
        self._finish(plan, ended)

    # -- steps -----------------------------------------------------------------------------
    def _compute(self, record: RunRecord) -> ComputeRecord | None:
        if record.target in ("local", ""):
            return None
        from serving.runs.compute import ComputeStore

        found = ComputeStore(self.store.root, self.store.db).get(record.target)
        return None if found.kind == "local" else found

    def _executor(self, compute: ComputeRecord | None) -> Executor:
        if compute is None:
            from serving.runs.local_exec import LocalExecutor

            return LocalExecutor()
        from serving.runs.compute import executor_for

        return executor_for(compute, None)

    def _claim(self) -> None:
        self.store.set_status(self.run_id, rec.PREPARING)

    def _claim_slot(self, compute: ComputeRecord | None) -> None:
        if compute is None:
            self._claim()
            return
        from serving.runs.compute import wait_for_slot

        self.store.set_status(self.run_id, rec.QUEUED)
        say(f"queued for compute {compute.name}")
        claimed = wait_for_slot(
            self.store.db, self.run_id, compute, say, lambda: self.cancelled, self._claim
        )
        if not claimed:
            raise Canceled()

    def _plan(self, record: RunRecord, compute: ComputeRecord | None) -> Plan:
        from serving.runs.plan import build_plan

        return build_plan(self.store, record, compute.to_dict() if compute else {}, COMPAT_DIR)

    def _reporting(self, record: RunRecord, compute: ComputeRecord | None, plan: Plan) -> Plan:
        """The plan with the run's token when it reports to a server from Docker compute,
        or runs on a Ray cluster started here (a folder workspace's run gets a server of
        its own for the run: :mod:`serving.runs.ray.run_server`)."""
        url = record.definition.get("report_to")
        if compute is None or compute.kind not in ("docker", "ray"):
            return plan
        if not url and compute.kind == "ray" and compute.spec.docker_network:
            from serving.runs.ray.run_server import RunServer

            self.run_server = RunServer(self.store.root)
            url = self.run_server.url
            say(f"the workspace has no server: one serves this run at {url}")
        if not url:
            return plan
        from serving.runs.reporting import Report

        self.token_minted = True
        report = Report(str(url), run_tokens.mint(self.store.db, self.run_id))
        env = {k: v for k, v in plan.env.items() if k != "SERVING_RUN_WORKSPACE"}
        say(f"the run reports to {url} with a token of its own")
        if compute.kind == "docker" and not compute.spec.network:
            say(
                f"note: compute {compute.name} has no network, but the run uses the host's "
                "network to reach the workspace server"
            )
        return replace(plan, report=report, env=env | report.variables())

    def _revoke_token(self) -> None:
        """Revoke the run's token if one was minted (once: at the end, or on a crash)."""
        if self.token_minted:
            run_tokens.revoke(self.store.db, self.run_id)
            self.token_minted = False

    def _wait(self, execution: Execution, plan: Plan) -> Exit:
        deadline = (
            None if not plan.max_run_duration_s else time.monotonic() + plan.max_run_duration_s
        )
        while True:
            try:
                ended = execution.wait(POLL_S)
            except BaseException:
                self._stop_quietly(execution)
                raise
            if ended is not None:
                return ended
            if self.cancelled:
                say("cancel requested: ending the script's processes")
                execution.terminate(CANCEL_GRACE_S)
                raise Canceled()
            if deadline is not None and time.monotonic() > deadline:
                say(f"past max_run_duration_seconds ({plan.max_run_duration_s:g}): stopping it")
                execution.terminate(CANCEL_GRACE_S)
                raise ServingError(
                    f"the run exceeded its max_run_duration_seconds of {plan.max_run_duration_s:g}"
                )

    @staticmethod
    def _stop_quietly(execution: Execution) -> None:
        """End what the run started when watching it failed (the run is failing anyway)."""
        try:
            execution.terminate(0)
        except Exception as exc:  # best effort: the first error is the one reported
            say(f"could not stop the run's processes: {exc}")

    def _finish(self, plan: Plan, ended: Exit) -> None:
        self.store.set_status(self.run_id, rec.FINALIZING)
        collect_outputs(plan.work_dir / "outputs", plan.run_dir / "outputs")
        if ended.ok:
            self._upload_data(plan)
        say(f"the script {ended.describe()}")
        if ended.ok:
            self._end(rec.COMPLETED, None)
            return
        log_tail = tail(plan.std_log, 25)
        message = f"User program failed: the script {ended.describe()}"
        self._end(
            rec.FAILED,
            {
                "code": "UserError",
                "message": message,
                "exit_code": ended.code,
                "log_tail": log_tail,
            },
        )

    def _upload_data(self, plan: Plan) -> None:
        refs = self.store.get(self.run_id).definition.get("data_references") or {}
        if any(ref.get("mode") == "upload" for ref in refs.values()):
            from serving.runs.datarefs import upload_outputs
            from serving.runs.datastores import DatastoreStore

            copied = upload_outputs(DatastoreStore(self.store.root, self.store.db), refs, plan.data)
            say(f"uploaded {copied} files to datastores")

    def _end(self, status: str, error: dict[str, Any] | None) -> None:
        """Record the end; what the script wrote to outputs/ is kept whatever the end
        (a canceled or failed run's outputs can be looked at)."""
        run_dir = self.store.run_dir(self.run_id)
        collect_outputs(run_dir / WORK_DIR / "outputs", run_dir / "outputs")
        self._revoke_token()  # before the end is visible: an ended run has no live token
        self.store.set_status(self.run_id, status, error=error)
        say(f"run {self.run_id}: {self.store.get(self.run_id).status}")


def collect_outputs(source: Path, dest: Path) -> None:
    """Move the script's ``outputs/`` into the run folder (renames, same file system)."""
    if not source.is_dir() or source.is_symlink():
        return
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.rglob("*")):
        target = dest / entry.relative_to(source)
        if entry.is_dir() and not entry.is_symlink():
            target.mkdir(parents=True, exist_ok=True)
        elif entry.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(entry, target) if not entry.is_symlink() else shutil.copy2(entry, target)


def main(argv: list[str] | None = None) -> int:
    return owner_main(argv, "serving.runs.supervisor", Supervisor)


__all__ = ["STD_LOG", "Mount", "Supervisor", "main"]

if __name__ == "__main__":
    sys.exit(main())
