"""A sweep's driver: one detached process per HyperDrive parent run (``python -m
serving.runs.sweeps.driver WORKSPACE PARENT_ID``), started by :mod:`serving.runs.sweeps.launch`.

It owns the parent's status. In a loop it keeps at most ``max_concurrent_runs`` children
active, each a script run ``<parent>_<index>`` (its own supervisor) whose arguments are the
base arguments plus the sampled values; records each child's parameters as the parent's tag
``<child id>: <json>`` (v1); reads the primary metric as children log it and asks the
early-termination policy about every new interval, canceling a stopped child with the
policy named in its error; tells the sampler how each child ended; logs the parent's
``best_child_by_primary_metric`` table; stops at ``max_total_runs`` (or the end of the grid)
or ``max_duration_minutes`` (children still running are canceled). The parent ends
Completed, Failed when every child failed or the driver hit an error, Canceled on SIGTERM
(``cancel``: every child is canceled first). A failed child does not stop the sweep. The
driver's log is the parent's ``azureml-logs/hyperdrive.txt``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from dataclasses import replace
from types import FrameType
from typing import Any, TextIO

from serving.runs import records as rec
from serving.runs.control import cancel
from serving.runs.metrics import ROW, MetricsWriter
from serving.runs.owner import owner_main, stamp
from serving.runs.store import SNAPSHOT_DIR, RunStore
from serving.runs.submit import submit
from serving.runs.sweeps import space as sp
from serving.runs.sweeps.policies import Stop, best_of, evaluate, worse
from serving.runs.sweeps.results import BEST_TABLE, primary_history
from serving.runs.sweeps.sampler import Draw, Sampler
from serving.runs.sweeps.spec import DEFINITION_KEY, SweepSpec

POLL_S = 0.1
LOG = "azureml-logs/hyperdrive.txt"


class Driver:
    """Runs one sweep to its end (see the module docstring)."""

    def __init__(self, store: RunStore, parent_id: str) -> None:
        self.store = store
        self.parent_id = parent_id
        self.cancelled = False
        self.log_path = store.run_dir(parent_id) / LOG
        self.writer = MetricsWriter(store.metrics_file(parent_id))
        self.active: dict[str, Draw] = {}
        self.histories: dict[str, list[float]] = {}
        self.sizes: dict[str, int] = {}
        self.ended: dict[str, str] = {}
        self.submitted = 0
        self.best_row: tuple[str, float, bool] | None = None
        self.warnings: list[str] = []
        self._log: TextIO | None = None

    def say(self, message: str) -> None:
        """One timestamped line of the sweep's log (opened once, written line by line)."""
        if self._log is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("a", encoding="utf-8", buffering=1)
        self._log.write(f"{stamp()} {message}\n")

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.cancelled = True

    # -- the whole sweep -------------------------------------------------------------------
    def run(self) -> int:
        try:
            return self._run()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def _run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        parent = self.store.get(self.parent_id)
        if parent.terminal:
            return 0
        try:
            self.spec = SweepSpec.from_dict(parent.definition[DEFINITION_KEY])
            self.policy = self.spec.early_termination()
            self.sampler = Sampler(self.spec)
            self.store.set_status(self.parent_id, rec.RUNNING)
            self.say(f"sweep {self.parent_id} (driver pid {os.getpid()}): {self._summary()}")
            self._warm_start()
            status, error = self._loop()
        except Exception as exc:
            self.say(traceback.format_exc())
            self._cancel_active("the sweep's driver failed")
            status = rec.FAILED
            error = {"code": "SystemError", "message": f"{type(exc).__name__}: {exc}"}
        self._end(status, error)
        return 0

    def _summary(self) -> str:
        spec = self.spec
        return (
            f"{spec.sampling} sampling, {self.policy.name}, {spec.primary_metric_goal} "
            f"{spec.primary_metric_name}, {spec.total_runs} runs, {spec.max_concurrent_runs} "
            "at once"
        )

    def _loop(self) -> tuple[str, dict[str, Any] | None]:
        deadline = time.monotonic() + self.spec.max_duration_minutes * 60
        while True:
            if self.cancelled or self._cancel_requested():
                self._cancel_active("the sweep was canceled")
                return rec.CANCELED, {"code": "Canceled", "message": "the run was canceled"}
            self._poll()
            if time.monotonic() > deadline:
                limit = self.spec.max_duration_minutes
                note = f"the sweep reached its max_duration_minutes ({limit:g})"
                self.say(note)
                self.warnings.append(f"{note}: {len(self.active)} child runs were canceled")
                self._cancel_active(note)
                break
            while len(self.active) < self.spec.max_concurrent_runs and self._more():
                self._start_child()
            if not self.active and not self._more(fresh=False):
                break
            time.sleep(POLL_S)
        self._poll()
        return self._outcome()

    def _cancel_requested(self) -> bool:
        return self.store.get(self.parent_id).status == rec.CANCEL_REQUESTED

    def _more(self, *, fresh: bool = True) -> bool:
        """Children left to start (``fresh``: the parent re-read, a cancel may be asked)."""
        if self.submitted >= self.spec.total_runs or self.cancelled:
            return False
        return not (fresh and self._cancel_requested())

    def _outcome(self) -> tuple[str, dict[str, Any] | None]:
        statuses = list(self.ended.values())
        if statuses and all(s == rec.FAILED for s in statuses):
            message = f"all {len(statuses)} child runs failed"
            self.say(message)
            return rec.FAILED, {"code": "UserError", "message": message}
        return rec.COMPLETED, None

    # -- children --------------------------------------------------------------------------
    def _start_child(self) -> None:
        index = self.submitted
        draw = self.sampler.ask()
        child_id = f"{self.parent_id}_{index}"
        params = json.dumps(draw.values)
        self.store.update_json(self.parent_id, "tags", {child_id: params})
        job = self.spec.job
        info = {"parent": self.parent_id, "index": index, "base": draw.base, "trial": draw.number}
        job = replace(
            job,
            source_directory=self.store.run_dir(self.parent_id) / SNAPSHOT_DIR,
            arguments=sp.child_arguments(job.arguments, draw.values),
            extra={**job.extra, DEFINITION_KEY: info},
        )
        experiment = self.store.get(self.parent_id).experiment
        self.submitted += 1
        submit(self.store, experiment, job, run_id=child_id, parent_id=self.parent_id)
        self.active[child_id] = draw
        self.histories[child_id] = []
        self.say(f"child {child_id} started: {params}")

    def _poll(self) -> None:
        """Read the active children's metrics, handle ended children, apply the policy."""
        grown: dict[str, tuple[int, int]] = {}
        ended: list[tuple[str, str]] = []
        for child_id in list(self.active):
            record = self.store.find(child_id)
            history = self._history(child_id)
            if len(history) > len(self.histories[child_id]):
                grown[child_id] = (len(self.histories[child_id]), len(history))
            self.histories[child_id] = history
            if record.terminal:
                ended.append((child_id, record.status))
        for child_id, status in ended:
            self._ended(child_id, status)
        goal = self.spec.primary_metric_goal
        stops = evaluate(self.policy, self.histories, grown, list(self.active), goal)
        for child_id, stop in stops.items():
            self._stop(child_id, stop)
        self._log_best()

    def _history(self, child_id: str) -> list[float]:
        """The child's primary metric, re-read only when its metrics file grew."""
        try:
            size = self.store.metrics_file(child_id).stat().st_size
        except FileNotFoundError:
            size = 0
        if self.sizes.get(child_id) == size:
            return self.histories[child_id]
        self.sizes[child_id] = size
        return primary_history(self.store, child_id, self.spec.primary_metric_name)

    def _stop(self, child_id: str, stop: Stop) -> None:
        self.say(f"child {child_id}: {stop.message()}")
        reason = {"message": f"The run was {stop.message()}", "policy": stop.policy}
        status = cancel(self.store, child_id, reason=reason)
        if status == rec.CANCELED:
            self.store.update_json(child_id, "tags", {"hyperdrive_stopped_by": stop.policy})
        self.histories[child_id] = primary_history(
            self.store, child_id, self.spec.primary_metric_name
        )
        self._ended(child_id, status)

    def _ended(self, child_id: str, status: str) -> None:
        draw = self.active.pop(child_id)
        history = self.histories[child_id]
        best = best_of(history, self.spec.primary_metric_goal) if history else None
        self.sampler.tell(draw.number, best)
        self.ended[child_id] = status
        shown = "no value" if best is None else f"best {best:.6g}"
        self.say(f"child {child_id} {status}: {shown} of {self.spec.primary_metric_name}")

    def _cancel_active(self, why: str) -> None:
        for child_id in list(self.active):
            status = cancel(self.store, child_id, reason={"message": why})
            self._ended(child_id, status)

    # -- the parent's record ---------------------------------------------------------------
    def _log_best(self) -> None:
        goal = self.spec.primary_metric_goal
        best: tuple[str, float, bool] | None = None
        for child_id, history in self.histories.items():
            if history:
                value = best_of(history, goal)
                if best is None or worse(best[1], value, goal):
                    best = (child_id, value, child_id in self.ended)
        if best is None or best == self.best_row:
            return
        self.best_row = best
        row = {"run_id": best[0], "metric_value": best[1], "final": best[2]}
        self.writer.add(BEST_TABLE, ROW, row)
        self.writer.flush()

    def _warm_start(self) -> None:
        trials: list[tuple[dict[str, Any], float | None]] = []
        resumed: list[dict[str, Any]] = []
        for earlier in self.spec.resume_from:
            for child in self.store.list(parent_id=earlier):
                info = child.definition.get(DEFINITION_KEY) or {}
                history = primary_history(self.store, child.id, self.spec.primary_metric_name)
                value = best_of(history, self.spec.primary_metric_goal) if history else None
                if isinstance(info.get("base"), dict):
                    trials.append((info["base"], value))
                    if child.id in self.spec.resume_child_runs:
                        resumed.append(info["base"])
        if trials:
            added = self.sampler.warm_start(trials)
            self.say(f"warm start: {added} trials from {', '.join(self.spec.resume_from)}")
        for base in resumed:
            self.sampler.enqueue(base)

    def _end(self, status: str, error: dict[str, Any] | None) -> None:
        self._log_best()
        self.writer.flush()
        self.store.set_status(self.parent_id, status, error=error, warnings=self.warnings)
        self.say(f"sweep {self.parent_id}: {self.store.get(self.parent_id).status}")


def main(argv: list[str] | None = None) -> int:
    return owner_main(argv, "serving.runs.sweeps.driver", Driver)


if __name__ == "__main__":
    sys.exit(main())
