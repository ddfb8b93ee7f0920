"""The pipeline run's owner: one detached process per pipeline run (``python -m
serving.runs.pipelines.driver WORKSPACE RUN_ID``), started by :func:`submit_pipeline`.

It decides reuse for every step first (:func:`~.reuse.decide`), then walks the graph: a
reused step gets a step run recorded Completed at once that points at the run it reuses
(``azureml.reusedrunid``) and its outputs, and no process starts; a step to run is
submitted as a child script run (kind ``azureml.StepRun``) as soon as the steps it takes
data from have Completed, so independent steps run side by side (within their compute
target's ``max_nodes``). A ``PipelineData`` output is the folder
``azureml/<step run id>/<name>`` on its datastore: the producer writes into an upload-mode
folder copied there when it succeeds, consumers get it mounted (read-only on Docker).

When a step fails, the steps that depend on it are not run (Canceled, saying why); the
other steps not started yet are not run either unless ``continue_on_step_failure``. The
pipeline run ends Completed, or Failed naming the failed steps, or Canceled (SIGTERM from
``cancel``, which cancels the step runs first). Its log is ``system_logs/supervisor.txt``.
"""

from __future__ import annotations

import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from serving.runs import records as rec
from serving.runs.datarefs import DataReferenceConfig
from serving.runs.datastores import DatastoreStore, locate
from serving.runs.errors import UserErrorException
from serving.runs.owner import Canceled, owner_main, say
from serving.runs.pipelines import spec as s
from serving.runs.pipelines.graph import order, upstream, validate
from serving.runs.pipelines.reuse import Decision, decide
from serving.runs.records import RunRecord
from serving.runs.store import RunStore
from serving.runs.submit import ScriptJob, start_supervisor, submit

POLL_S = 0.1
DECISIONS = "serving.pipeline.decisions"


def submit_pipeline(
    store: RunStore,
    experiment: str,
    spec: s.PipelineSpec,
    options: s.RunOptions,
    *,
    display_name: str | None = None,
    run_id: str | None = None,
) -> RunRecord:
    """Check the pipeline, record its run (NotStarted) and start its driver (``run_id``:
    chosen by a workspace server, which keeps the steps' folders in the run's folder)."""
    errors = validate(spec, options.parameters)
    if errors:
        raise UserErrorException("the pipeline is not valid: " + "; ".join(errors))
    resolved = s.RunOptions(
        parameters=spec.resolve_parameters(options.parameters),
        regenerate_outputs=options.regenerate_outputs,
        continue_on_step_failure=options.continue_on_step_failure,
        hash_input_data=options.hash_input_data,
    )
    rec.check_experiment_name(experiment)
    record = store.create_run(
        experiment,
        kind=s.PIPELINE_KIND,
        target="local",
        definition={"pipeline": spec.to_dict(), "options": resolved.to_dict()},
        display_name=display_name or spec.description,
        run_id=run_id,
    )
    argv = [sys.executable, "-m", "serving.runs.pipelines.driver", str(store.root), record.id]
    start_supervisor(store, record.id, argv)
    return store.get(record.id)


class Driver:
    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.cancelled = False
        record = store.get(run_id)
        self.experiment = record.experiment
        self.spec = s.PipelineSpec.from_dict(record.definition["pipeline"])
        self.options = s.RunOptions.from_dict(record.definition.get("options") or {})
        self.datastores = DatastoreStore(store.root, store.db)
        self.status: dict[str, str] = {}
        self.runs: dict[str, str] = {}
        self.locations: dict[str, dict[str, str]] = {}
        self.errors: dict[str, str] = {}

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.cancelled = True

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        if self.store.get(self.run_id).terminal:
            return 0
        say(f"driving pipeline run {self.run_id}")
        try:
            self.store.set_status(self.run_id, rec.RUNNING)
            decisions = {d.step: d for d in decide(self.store, self.spec, self.options)}
            self.store.update_json(
                self.run_id, "properties", {DECISIONS: [d.to_dict() for d in decisions.values()]}
            )
            self._walk(decisions)
            self._end()
        except Canceled:
            self._set_end(rec.CANCELED, {"code": "Canceled", "message": "the run was canceled"})
        except Exception as exc:
            say(traceback.format_exc())
            self._set_end(
                rec.FAILED, {"code": "SystemError", "message": f"{type(exc).__name__}: {exc}"}
            )
        return 0

    # -- the walk --------------------------------------------------------------------------
    def _walk(self, decisions: dict[str, Decision]) -> None:
        waiting = [step.name for step in order(self.spec)]
        active: dict[str, str] = {}
        while waiting or active:
            if self.cancelled:
                self._cancel(waiting, active)
            moved = self._poll(active)
            for name in list(waiting):
                step = self.spec.step(name)
                state = self._readiness(step)
                if state is None:
                    continue
                waiting.remove(name)
                moved = True
                if state:
                    self._not_run(step, state)
                elif decisions[name].reused:
                    self._reuse(step, decisions[name])
                else:
                    self._start(step, decisions[name], active)
            if not moved:
                time.sleep(POLL_S)

    def _readiness(self, step: s.StepSpec) -> str | None:
        """None: wait; '': start it; else why it is not run."""
        deps = sorted(set(upstream(self.spec, step).values()))
        broken = [d for d in deps if self.status.get(d) in (rec.FAILED, rec.CANCELED)]
        if broken:
            return f"not run: step {broken[0]!r}, which it takes data from, did not complete"
        failed = [n for n, st in self.status.items() if st == rec.FAILED]
        if failed and not self.options.continue_on_step_failure:
            return (
                f"not run: step {failed[0]!r} failed and the pipeline stops at a failure "
                "(continue_on_step_failure is off)"
            )
        if all(self.status.get(d) == rec.COMPLETED for d in deps):
            return ""
        return None

    def _poll(self, active: dict[str, str]) -> bool:
        moved = False
        for name, run_id in list(active.items()):
            record = self.store.find(run_id)
            if record.terminal:
                del active[name]
                self._ended(name, record.status, (record.error or {}).get("message"))
                moved = True
        return moved

    def _ended(self, name: str, status: str, message: str | None) -> None:
        self.status[name] = status
        if status != rec.COMPLETED:
            self.errors[name] = message or status
        say(f"step {name}: {status}" + (f" ({message})" if message else ""))

    def _cancel(self, waiting: list[str], active: dict[str, str]) -> None:
        from serving.runs.control import cancel

        for run_id in active.values():
            cancel(self.store, run_id)
        for name in waiting:
            self._not_run(self.spec.step(name), "not run: the pipeline run was canceled")
        raise Canceled()

    # -- one step --------------------------------------------------------------------------
    def _properties(self, step: s.StepSpec, decision: Decision) -> dict[str, Any]:
        return {
            s.STEP_NAME: step.name,
            s.STEP_TYPE: "PythonScriptStep",
            s.FINGERPRINT: decision.fingerprint,
            s.KEY: decision.key,
            s.REASON: decision.reason,
        }

    def _new_row(self, step: s.StepSpec, definition: dict[str, Any]) -> str:
        record = self.store.create_run(
            self.experiment,
            kind=s.STEP_KIND,
            target=step.compute,
            definition=definition,
            parent_id=self.run_id,
            display_name=step.name,
        )
        self.runs[step.name] = record.id
        return record.id

    def _reuse(self, step: s.StepSpec, decision: Decision) -> None:
        original = self.store.get(str(decision.reuse_run))
        outputs = dict(original.properties.get(s.OUTPUTS) or {})
        run_id = self._new_row(step, {**original.definition, "reused_run": original.id})
        props = self._properties(step, decision)
        props.update({s.OUTPUTS: outputs, s.REUSED_RUN: original.id})
        props[s.REUSED_PIPELINE] = original.parent_id
        self.store.update_json(run_id, "properties", props)
        if original.snapshot_id:
            self.store.set_snapshot(run_id, original.snapshot_id)
        self.store.set_status(run_id, rec.RUNNING)
        self.store.set_status(run_id, rec.COMPLETED)
        self.locations.update(outputs)
        self.status[step.name] = rec.COMPLETED
        say(f"step {step.name}: reused run {original.id} as {run_id} ({decision.reason})")

    def _not_run(self, step: s.StepSpec, why: str) -> None:
        run_id = self._new_row(step, {"script": step.script, "arguments": step.arguments})
        self.store.update_json(run_id, "properties", {s.STEP_NAME: step.name, s.REASON: why})
        self.store.set_status(run_id, rec.CANCELED, error={"code": "NotRun", "message": why})
        self.status[step.name] = rec.CANCELED
        say(f"step {step.name}: {why}")

    def _start(self, step: s.StepSpec, decision: Decision, active: dict[str, str]) -> None:
        run_id = rec.new_run_id(self.experiment)
        job, outputs = self._job(step, run_id)
        try:
            submit(
                self.store,
                self.experiment,
                job,
                run_id=run_id,
                parent_id=self.run_id,
                display_name=step.name,
                kind=s.STEP_KIND,
            )
        except Exception as exc:  # the source folder vanished, a snapshot failed, ...
            self._failed_to_start(step, run_id, job, exc)
            return
        props = self._properties(step, decision)
        props[s.OUTPUTS] = outputs
        self.store.update_json(run_id, "properties", props)
        self.runs[step.name] = run_id
        self.locations.update(outputs)
        active[step.name] = run_id
        say(f"step {step.name}: submitted run {run_id} ({decision.reason})")

    def _failed_to_start(
        self, step: s.StepSpec, run_id: str, job: ScriptJob, exc: Exception
    ) -> None:
        message = f"the step could not start: {exc}"
        try:
            self.store.get(run_id)
        except Exception:
            self.store.create_run(
                self.experiment,
                kind=s.STEP_KIND,
                target=step.compute,
                definition=job.definition(),
                run_id=run_id,
                parent_id=self.run_id,
                display_name=step.name,
            )
        self.store.set_status(run_id, rec.FAILED, error={"code": "UserError", "message": message})
        self.runs[step.name] = run_id
        self._ended(step.name, rec.FAILED, message)

    def _job(self, step: s.StepSpec, run_id: str) -> tuple[ScriptJob, dict[str, dict[str, str]]]:
        """The step's script job, its data references made from its ports; and where its
        outputs will be (folders created now, so a step that writes nothing still has one)."""
        values = self.options.parameters
        refs: dict[str, dict[str, Any]] = {}
        outputs: dict[str, dict[str, str]] = {}
        for port in step.inputs:
            where = self.locations[port.name] if port.kind == s.PIPELINE_DATA else None
            datastore = where["datastore"] if where else str(port.datastore)
            path = where["path"] if where else port.path
            mode = "download" if port.mode == "download" else "mount"
            refs[port.name] = DataReferenceConfig(port.name, datastore, path, mode).to_dict()
        for port in step.outputs:
            datastore = (
                port.datastore or self.spec.default_datastore or self.datastores.default().name
            )
            path = f"azureml/{run_id}/{port.name}"
            locate(self.datastores.get(datastore), path).mkdir(parents=True, exist_ok=True)
            refs[port.name] = DataReferenceConfig(
                port.name, datastore, path, "upload", overwrite=True
            ).to_dict()
            outputs[port.name] = {"datastore": datastore, "path": path}
        job = ScriptJob(
            source_directory=Path(step.source_directory),
            script=step.script,
            arguments=[s.fill_parameters(a, values) for a in step.arguments],
            environment=step.environment,
            interpreter=step.interpreter,
            compute=step.compute,
            data_references=refs,
            environment_variables={
                k: s.fill_parameters(v, values) for k, v in step.environment_variables.items()
            },
            extra={"pipeline_run": self.run_id, "pipeline_step": step.name},
        )
        return job, outputs

    # -- the end ---------------------------------------------------------------------------
    def _end(self) -> None:
        failed = [n for n, st in self.status.items() if st == rec.FAILED]
        if not failed:
            not_run = [n for n, st in self.status.items() if st != rec.COMPLETED]
            if not_run:
                self._set_end(rec.CANCELED, {"code": "Canceled", "message": "steps were canceled"})
            else:
                self._set_end(rec.COMPLETED, None)
            return
        named = ", ".join(f"{n!r} (run {self.runs.get(n)}: {self.errors.get(n)})" for n in failed)
        word = "step" if len(failed) == 1 else "steps"
        self._set_end(
            rec.FAILED,
            {"code": "StepFailed", "message": f"{word} {named} failed", "failed_steps": failed},
        )

    def _set_end(self, status: str, error: dict[str, Any] | None) -> None:
        self.store.set_status(self.run_id, status, error=error)
        say(f"pipeline run {self.run_id}: {self.store.get(self.run_id).status}")


def main(argv: list[str] | None = None) -> int:
    return owner_main(argv, "serving.runs.pipelines.driver", Driver)


if __name__ == "__main__":
    sys.exit(main())
