"""From a run's record to a :class:`~serving.runs.execution.Plan`: the working copy, the
data references materialised and substituted into the arguments, the v1 variables.

Variables a v1 script may read (``AZUREML_RUN_ID``, ``AZUREML_ARM_*``,
``AZUREML_OUTPUT_DIRECTORY``, ``AZUREML_DATAREFERENCE_<name>``, ...) are set; so is
``SERVING_RUN_WORKSPACE``, which with ``AZUREML_RUN_ID`` makes ``Run.get_context()``
return the run. ``PYTHONPATH`` starts with the platform's ``azureml`` shim package, so
``from azureml.core import Run`` resolves to this platform's run even when the real
``azureml-core`` is installed in the environment: it never tries to reach Azure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from serving.runs.execution import Mount, Plan
from serving.runs.records import RunRecord
from serving.runs.store import SNAPSHOT_DIR, STD_LOG, WORK_DIR, RunStore


def _workspace_name(store: RunStore) -> str:
    with store.db.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'name'").fetchone()
    return str(row[0]) if row else store.root.name


def v1_variables(store: RunStore, record: RunRecord, target_type: str) -> dict[str, str]:
    definition = record.definition
    return {
        "AZUREML_RUN_ID": record.id,
        "AZUREML_ARM_SUBSCRIPTION": "local",
        "AZUREML_ARM_RESOURCEGROUP": "local",
        "AZUREML_ARM_WORKSPACE_NAME": _workspace_name(store),
        "AZUREML_ARM_PROJECT_NAME": record.experiment,
        "AZUREML_EXPERIMENT_ID": record.experiment,
        "AZUREML_WORKSPACE_ID": str(store.root),
        "AZUREML_SERVICE_ENDPOINT": store.root.as_uri(),
        "AZUREML_DISCOVERY_SERVICE_ENDPOINT": store.root.as_uri(),
        "AZUREML_RUN_TOKEN": "local",
        "AZUREML_OUTPUT_DIRECTORY": "outputs",
        "AZUREML_SCRIPT_DIRECTORY_NAME": Path(str(definition.get("script", ""))).parent.as_posix(),
        "AZUREML_TARGET_TYPE": target_type,
        "SERVING_RUN_WORKSPACE": str(store.root),
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
    }


def prepare_work_dir(store: RunStore, run_id: str) -> Path:
    """The run's working copy of its snapshot, with ``outputs/`` and a live ``logs/``
    (a link to the run folder's ``logs/``)."""
    run_dir = store.run_dir(run_id)
    work = run_dir / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(run_dir / SNAPSHOT_DIR, work, symlinks=False)
    (work / "outputs").mkdir(exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    logs = work / "logs"
    if logs.is_dir() and not logs.is_symlink():  # the source had a logs/ folder: keep its files
        for item in logs.iterdir():
            shutil.move(str(item), run_dir / "logs" / item.name)
        logs.rmdir()
    logs.symlink_to(run_dir / "logs", target_is_directory=True)
    return work


def _data(
    store: RunStore, record: RunRecord, work: Path, shipped: bool
) -> tuple[dict[str, Path], list[Mount]]:
    """The data references' paths and mounts; ``shipped``: the working folder is the
    run's only file system (a Ray job's working directory), so the data is copied into
    it and named relative to it."""
    refs = record.definition.get("data_references") or {}
    if not refs:
        return {}, []
    from serving.runs.datarefs import materialize
    from serving.runs.datastores import DatastoreStore

    paths, mounted = materialize(DatastoreStore(store.root, store.db), refs, work, shipped)
    if shipped:
        paths = {name: Path(os.path.relpath(path, work)) for name, path in paths.items()}
    return paths, [Mount(Path(p), read_only=True) for p in mounted]


def build_plan(
    store: RunStore, record: RunRecord, compute: dict[str, Any], compat_dir: Path
) -> Plan:
    definition = record.definition
    run_dir = store.run_dir(record.id)
    work = prepare_work_dir(store, record.id)
    paths, mounts = _data(store, record, work, compute.get("kind") == "ray")
    arguments = [str(a) for a in definition.get("arguments") or []]
    env = v1_variables(store, record, str(compute.get("kind") or "local"))
    if paths:
        from serving.runs.datarefs import env_vars, substitute

        arguments = substitute(arguments, paths)
        env.update(env_vars(paths))
    environment = definition.get("environment")
    spec = environment.get("spec") if isinstance(environment, dict) else None
    if isinstance(spec, dict):
        env.update({str(k): str(v) for k, v in (spec.get("variables") or {}).items()})
    env.update({str(k): str(v) for k, v in (definition.get("environment_variables") or {}).items()})
    shims = [str(compat_dir)]
    if compute.get("kind") not in (None, "local"):  # containers see only serving/ of it
        shims.append(str(Path(__file__).resolve().parents[2]))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*shims, env.get("PYTHONPATH", "")) if p)
    duration = definition.get("max_run_duration_seconds")
    return Plan(
        run_id=record.id,
        workspace=store.root,
        run_dir=run_dir,
        work_dir=work,
        script_argv=[str(definition["script"]), *arguments],
        env=env,
        std_log=run_dir / STD_LOG,
        environment=spec if isinstance(spec, dict) else None,
        interpreter=definition.get("interpreter"),
        compute=compute,
        mounts=mounts,
        max_run_duration_s=float(duration) if duration else None,
        max_retries=int(definition.get("max_retries") or 0),
        data=paths,
    )
