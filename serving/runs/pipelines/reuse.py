"""Step reuse as Azure ML v1 decides it, and why a step is not reused.

A step's **key** holds: its definition (type, name, script, arguments as written, input
and output port definitions, ``allow_reuse``, ``version``, its environment variables), the
hash of its environment (or the interpreter of a user-managed one), its compute target,
the content hash of its source folder (the snapshot's rules: ``.amlignore``, else
``.gitignore``), the identity of each input and the values of the pipeline parameters it
uses. The **fingerprint** is the sha256 of the key.

An input's identity: a ``PipelineData`` is its producer's fingerprint plus its name; a data
reference is its datastore and path (v1: the path, not the bytes, so changed files are
still reused; Azure/MachineLearningNotebooks#379), plus a hash of the files under that path
with ``hash_input_data``. An unnamed data reference gets a random name, so it is never
reused (as in v1).

A step is reused when reuse is allowed, ``regenerate_outputs`` is off, every step it takes
data from is reused too, and an earlier Completed step run with the same fingerprint still
has its outputs on the datastore. :func:`decide` says so for every step before anything
runs: the driver acts on it and ``serving pipelines explain`` prints it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.runs import records as rec
from serving.runs.datastores import DatastoreStore, locate
from serving.runs.pipelines import spec as s
from serving.runs.pipelines.graph import order, producers
from serving.runs.snapshot import SNAPSHOT_IGNORE_FILES
from serving.runs.store import RunStore
from serving.sourcefiles import source_entries


@dataclass(frozen=True)
class Decision:
    """What happens to one step: reused (``reuse_run`` is the run whose outputs it takes)
    or run, and why."""

    step: str
    fingerprint: str
    key: dict[str, Any]
    reuse_run: str | None
    reason: str

    @property
    def reused(self) -> bool:
        return self.reuse_run is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "decision": "reuse" if self.reused else "run",
            "reused_run": self.reuse_run,
            "reason": self.reason,
            "fingerprint": self.fingerprint,
        }


def _sha(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def source_hash(folder: str | Path) -> str:
    """The snapshot id the step's source folder would get (same rules, same hash)."""
    entries, _rules = source_entries(Path(folder), SNAPSHOT_IGNORE_FILES)
    digest = hashlib.sha256()
    for entry in sorted((e for e in entries if not e.is_dir), key=lambda e: e.rel):
        digest.update(entry.rel.encode() + b"\0")
        with entry.path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def data_hash(datastores: DatastoreStore, datastore: str, path: str | None) -> str:
    """sha256 over the names and bytes of the files under a datastore path (opt-in)."""
    where = locate(datastores.get(datastore), path, "path_on_datastore")
    digest = hashlib.sha256()
    files = [where] if where.is_file() else sorted(p for p in where.rglob("*") if p.is_file())
    for file in files:
        digest.update(file.relative_to(where).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest() if where.exists() else "missing"


def environment_hash(step: s.StepSpec) -> str:
    if step.environment is None:
        return f"user-managed:{step.interpreter}"
    return _sha(step.environment.get("spec"))


def step_key(
    step: s.StepSpec, inputs: Mapping[str, str], parameters: Mapping[str, Any], source: str
) -> dict[str, Any]:
    def ports(items: list[s.PortSpec]) -> list[dict[str, str]]:
        return [{"name": p.name, "kind": p.kind, "mode": p.mode} for p in items]

    return {
        "step": {
            "type": "PythonScriptStep",
            "name": step.name,
            "script": step.script,
            "arguments": list(step.arguments),
            "inputs": ports(step.inputs),
            "outputs": ports(step.outputs),
            "allow_reuse": step.allow_reuse,
            "version": step.version,
            "environment_variables": dict(step.environment_variables),
        },
        "environment": environment_hash(step),
        "compute": step.compute,
        "source": source,
        "inputs": dict(inputs),
        "parameters": {name: str(parameters[name]) for name in step.used_parameters()},
    }


# -- earlier runs ----------------------------------------------------------------------------
def _prop(name: str) -> str:
    return f"json_extract(properties, '$.\"{name}\"')"


def reusable_run(store: RunStore, fingerprint: str) -> str | None:
    """The newest executed step run with this fingerprint that Completed and whose outputs
    are all still on their datastores (a reuse points at the run it reused)."""
    with store.db.read() as conn:
        rows = conn.execute(
            f"SELECT id, properties FROM runs WHERE kind = ? AND status = ?"
            f" AND {_prop(s.FINGERPRINT)} = ? ORDER BY created_at DESC",
            (s.STEP_KIND, rec.COMPLETED, fingerprint),
        ).fetchall()
    datastores = DatastoreStore(store.root, store.db)
    for row in rows:
        props = json.loads(row["properties"])
        outputs = props.get(s.OUTPUTS) or {}
        if all(_exists(datastores, o) for o in outputs.values()):
            return str(props.get(s.REUSED_RUN) or row["id"])
    return None


def _exists(datastores: DatastoreStore, output: Mapping[str, Any]) -> bool:
    try:
        return locate(datastores.get(str(output["datastore"])), str(output["path"])).is_dir()
    except Exception:
        return False


def last_key(store: RunStore, step_name: str) -> tuple[str, dict[str, Any]] | None:
    """(run id, key) of the newest Completed step run of a step with this name."""
    with store.db.read() as conn:
        row = conn.execute(
            f"SELECT id, properties FROM runs WHERE kind = ? AND status = ?"
            f" AND {_prop(s.STEP_NAME)} = ? AND {_prop(s.KEY)} IS NOT NULL"
            " ORDER BY created_at DESC LIMIT 1",
            (s.STEP_KIND, rec.COMPLETED, step_name),
        ).fetchone()
    if row is None:
        return None
    props = json.loads(row["properties"])
    return str(props.get(s.REUSED_RUN) or row["id"]), dict(props[s.KEY])


_LABELS = {
    "environment": "the environment",
    "compute": "the compute target",
    "source": "the source folder's content",
}


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed between two keys, in words."""
    found: list[str] = []
    old_step, new_step = old.get("step") or {}, new.get("step") or {}
    for name in new_step:
        if old_step.get(name) != new_step[name]:
            found.append(f"{name.replace('_', ' ')} ({old_step.get(name)!r} -> {new_step[name]!r})")
    for part, label in _LABELS.items():
        if old.get(part) != new.get(part):
            found.append(label)
    for kind, what in (("inputs", "input"), ("parameters", "parameter")):
        was, now = old.get(kind) or {}, new.get(kind) or {}
        for name in sorted(set(was) | set(now)):
            if was.get(name) != now.get(name):
                found.append(f"{what} {name!r} ({was.get(name)!r} -> {now.get(name)!r})")
    return found


# -- deciding --------------------------------------------------------------------------------
def decide(store: RunStore, spec: s.PipelineSpec, options: s.RunOptions) -> list[Decision]:
    """What happens to each step, in the order steps can run."""
    parameters = spec.resolve_parameters(options.parameters)
    made = producers(spec)
    datastores = DatastoreStore(store.root, store.db)
    decided: dict[str, Decision] = {}
    sources: dict[str, str] = {}
    for step in order(spec):
        if step.source_directory not in sources:
            sources[step.source_directory] = source_hash(step.source_directory)
        inputs: dict[str, str] = {}
        rerun_from: list[tuple[str, str]] = []
        for port in step.inputs:
            if port.kind == s.PIPELINE_DATA:
                producer = decided[made[port.name]]
                inputs[port.name] = f"{producer.fingerprint}/{port.name}"
                if not producer.reused:
                    rerun_from.append((port.name, producer.step))
            else:
                inputs[port.name] = f"{port.datastore}:{port.path or '/'}"
                if options.hash_input_data:
                    content = data_hash(datastores, str(port.datastore), port.path)
                    inputs[port.name] += f"#sha256:{content}"
        key = step_key(step, inputs, parameters, sources[step.source_directory])
        fingerprint = _sha(key)
        reuse, reason = _reuse(store, step, fingerprint, key, rerun_from, options)
        decided[step.name] = Decision(step.name, fingerprint, key, reuse, reason)
    return list(decided.values())


def _reuse(
    store: RunStore,
    step: s.StepSpec,
    fingerprint: str,
    key: Mapping[str, Any],
    rerun_from: list[tuple[str, str]],
    options: s.RunOptions,
) -> tuple[str | None, str]:
    if not step.allow_reuse:
        return None, "allow_reuse is False: the step always runs"
    if options.regenerate_outputs:
        return None, "regenerate_outputs: every step runs"
    if rerun_from:
        port, producer = rerun_from[0]
        return None, f"input {port!r} comes from step {producer!r}, which runs"
    found = reusable_run(store, fingerprint)
    if found is not None:
        return found, f"same key as run {found} (Completed, outputs kept)"
    earlier = last_key(store, step.name)
    if earlier is None:
        return None, f"no earlier Completed run of a step named {step.name!r}"
    changed = differences(earlier[1], key)
    if not changed:
        return None, f"run {earlier[0]} had this key but its outputs are gone"
    return None, f"changed since run {earlier[0]}: " + "; ".join(changed)
