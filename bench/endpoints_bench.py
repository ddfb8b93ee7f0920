"""Production-endpoint costs (issue 18): TLS on the cluster target, and model data collection.

* ``tls``: the digits model (scikit-learn template's score.py) on two ``--target cluster``
  endpoints of 2 replicas each, one plain and one with ``--ssl-cert/--ssl-key`` (HAProxy
  terminates TLS; a throwaway CA and certificate made with ``trustme``), no key auth, loaded
  in turn with wrk at 8 keep-alive connections POSTing the one-row sample. Target: TLS costs
  at most 15 % of req/s.
* ``collect``: the same score.py with ``ModelDataCollector`` for its inputs and predictions
  (as Azure's data-collection sample does), deployed twice on the local target (one worker
  each, so that how wrk's connections fall on the workers does not decide the figure), with
  and without ``--collect-model-data``, loaded in turn at 8 connections. Target: collection costs
  at most 5 % of req/s. The records written are counted after the run.

Rounds alternate the two endpoints of a part (A B A B ...) and the medians are compared, so a
change in what else the machine does hits both. Endpoints are deployed through the CLI, as a
user would.

    python bench/endpoints_bench.py [--parts tls,collect] [--rounds 3] [--duration 8]

Needs Docker (tls), ``wrk`` (apt-get install wrk) and the dev extras (trustme). Traffic stays
on 127.0.0.1. The autoscaling ramp has its own script: ``bench/autoscale_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server_bench import LUA, wrk  # noqa: E402  (this folder: the shared wrk runner)

TEMPLATE = ROOT / "scoring_templates" / "sklearn"
CONNECTIONS = 8

COLLECT_SCORE = """
import os

import joblib
from azureml.monitoring import ModelDataCollector

model = None
inputs_dc = None
prediction_dc = None


def init():
    global model, inputs_dc, prediction_dc
    model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.pkl"))
    features = [f"pixel{i}" for i in range(64)]
    inputs_dc = ModelDataCollector("digits", designation="inputs", feature_names=features)
    prediction_dc = ModelDataCollector(
        "digits", designation="predictions", feature_names=["digit"]
    )


def run(raw):
    import json

    data = json.loads(raw)["data"]
    correlation = inputs_dc.collect(data)
    result = model.predict(data).tolist()
    prediction_dc.collect(result, correlation)
    return result
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cli(ws: Path, *args: str) -> str:
    """``serving --workspace WS ARGS...``; its stdout (a failure stops the bench)."""
    done = subprocess.run(
        [sys.executable, "-m", "serving", "--workspace", str(ws), *args],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"serving {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def scoring_uri(ws: Path, name: str) -> str:
    return str(json.loads(cli(ws, "-o", "json", "endpoints", "show", name))["scoring_uri"])


def prepare(work: Path) -> Path:
    ws = work / "ws"
    model = work / "model.pkl"
    subprocess.run(
        [sys.executable, str(TEMPLATE / "train.py"), "--output", str(model)],
        check=True,
        capture_output=True,
    )
    cli(ws, "models", "register", str(model), "--name", "digits")
    return ws


def deploy(ws: Path, name: str, *flags: str) -> str:
    say(f"deploying {name} {' '.join(flags)}")
    cli(ws, "deploy", name, "--model", "digits:1", *flags)
    return scoring_uri(ws, name)


def cpu_seconds(folder: Path) -> float:
    """CPU time (user + system) of the processes whose working folder is inside ``folder``
    (a local endpoint's gunicorn master and workers run in its app folder), from /proc."""
    total = 0
    inside = str(folder.resolve())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not os.readlink(proc / "cwd").startswith(inside):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone, or not ours to read
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def alternate(
    uris: dict[str, str],
    args: argparse.Namespace,
    lua: Path,
    folders: dict[str, Path] | None = None,
) -> dict[str, float]:
    """Median req/s of each endpoint, loaded in turn ``--rounds`` times; with ``folders``
    (label -> app folder) also the median server CPU per request, as ``"<label> cpu_us"``:
    what the server spends per request does not depend on what else the machine runs, as
    req/s on this shared 2-core machine does."""
    body = TEMPLATE / "sample-request.json"
    seen: dict[str, list[float]] = {label: [] for label in uris}
    cpu: dict[str, list[float]] = {label: [] for label in folders or {}}
    for uri in uris.values():
        wrk(uri, body, CONNECTIONS, 2, lua)  # warm-up
    for round_no in range(args.rounds):
        for label, uri in uris.items():
            before = cpu_seconds(folders[label]) if label in cpu else 0.0
            rps, p50, p99, errors = wrk(uri, body, CONNECTIONS, args.duration, lua)
            if label in cpu:
                cpu[label].append((cpu_seconds(folders[label]) - before) / (rps * args.duration))
            say(
                f"round {round_no + 1} {label}: {rps:.0f} req/s, p50 {p50:.2f} ms, "
                f"p99 {p99:.2f} ms, {errors} errors"
                + (f", server CPU {cpu[label][-1] * 1e6:.0f} us/request" if label in cpu else "")
            )
            if errors:
                raise SystemExit(f"{label}: {errors} failed requests")
            seen[label].append(rps)
    medians = {label: statistics.median(values) for label, values in seen.items()}
    medians.update({f"{label} cpu_us": statistics.median(v) * 1e6 for label, v in cpu.items()})
    first, second = list(uris)[:2]  # each round's pair ran back to back: their ratio
    pairs = zip(seen[first], seen[second], strict=True)
    medians["paired"] = statistics.median(b / a for a, b in pairs)
    return medians


def tls_part(ws: Path, work: Path, args: argparse.Namespace, lua: Path) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(work / "both.pem"))
    cert.cert_chain_pems[0].write_to_path(str(work / "cert.pem"))
    cert.private_key_pem.write_to_path(str(work / "key.pem"))
    common = ("--entry-script", str(TEMPLATE / "score.py"), "--env", str(TEMPLATE / "env.yml"))
    cluster = [*common, "--target", "cluster", "--replicas", "2", "--no-auth"]
    cluster += ["--max-queue-wait-ms", "10000"]
    plain = deploy(ws, "bench-plain", *cluster)
    secure = deploy(
        ws,
        "bench-tls",
        *cluster,
        "--ssl-cert",
        str(work / "cert.pem"),
        "--ssl-key",
        str(work / "key.pem"),
    )
    try:
        medians = alternate({"plain": plain, "tls": secure}, args, lua)
    finally:
        for name in ("bench-plain", "bench-tls"):
            cli(ws, "endpoints", "delete", name)
    cost = 1 - medians["tls"] / medians["plain"]
    print(
        f"TLS on the cluster target (2 replicas, {CONNECTIONS} keep-alive connections): "
        f"plain {medians['plain']:.0f} req/s, TLS {medians['tls']:.0f} req/s, "
        f"cost {cost * 100:.1f} % (target <= 15 %): {'MET' if cost <= 0.15 else 'NOT MET'}"
    )


def count_records(ws: Path) -> int:
    return sum(sum(1 for _ in path.open()) for path in (ws / "datastores").rglob("*.jsonl"))


def collect_part(ws: Path, work: Path, args: argparse.Namespace, lua: Path) -> None:
    score = work / "collect_score.py"
    score.write_text(COLLECT_SCORE)
    # one worker each: with two, wrk's 8 keep-alive connections split between the workers
    # by chance (all on one, or 4 and 4), which moved single rounds between ~2 200 and
    # ~3 900 req/s whatever collection did
    common = ("--entry-script", str(score), "--env", str(TEMPLATE / "env.yml"), "--workers", "1")
    off = deploy(ws, "bench-nocollect", *common)
    on = deploy(ws, "bench-collect", *common, "--collect-model-data")
    folders = {label: ws / "endpoints" / name for label, name in
               (("off", "bench-nocollect"), ("on", "bench-collect"))}  # fmt: skip
    try:
        medians = alternate({"off": off, "on": on}, args, lua, folders)
    finally:
        for name in ("bench-nocollect", "bench-collect"):
            cli(ws, "endpoints", "delete", name)
    cost = 1 - medians["on"] / medians["off"]
    cpu_cost = medians["on cpu_us"] / medians["off cpu_us"] - 1
    print(
        f"data collection (local target, 1 worker, inputs + predictions, {CONNECTIONS} "
        f"connections): "
        f"off {medians['off']:.0f} req/s, on {medians['on']:.0f} req/s, "
        f"cost {cost * 100:.1f} % (target <= 5 %): {'MET' if cost <= 0.05 else 'NOT MET'}; "
        f"median of the rounds' own costs {(1 - medians['paired']) * 100:.1f} %; "
        f"server CPU per request off {medians['off cpu_us']:.0f} us, on "
        f"{medians['on cpu_us']:.0f} us (+{cpu_cost * 100:.1f} %); "
        f"{count_records(ws)} records written"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--parts", default="tls,collect", help="tls, collect (comma-separated)")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    parts = {"tls": tls_part, "collect": collect_part}
    wanted = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in parts]
    if unknown:
        raise SystemExit(f"unknown part(s): {', '.join(unknown)}")
    say(f"load average before: {os.getloadavg()[0]:.2f}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="endpoints-bench-") as tmp:
        work = Path(tmp)
        lua = work / "post.lua"
        lua.write_text(LUA)
        ws = prepare(work)
        for part in wanted:
            parts[part](ws, work, args, lua)


if __name__ == "__main__":
    main()
