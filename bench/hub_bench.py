"""Workspace server benchmark: ``GET /api/v1/runs`` latency with 10 000 runs in the
workspace (first page, a deep page reached by page tokens, one experiment, one status) and
``GET /runs/{id}/metrics`` for a run with 100 000 points of one metric (downsampled to
1 000), against the real server (gunicorn, 2 gthread workers) on 127.0.0.1.

    python bench/hub_bench.py [--runs 10000] [--points 100000] [--repeat 30]

Seeding: the first 200 runs are made by ``RunStore.create_run`` (about 13 ms each here,
one durable transaction per run); the rest are copies of their rows made in one
transaction with new ids and times, so seeding 10 000 runs takes seconds, not minutes. The
metric is written through the runs layer's own ``MetricsWriter``.

``run.log`` throughput: a script's ``run.log`` calls (``--log-records``, one metric with a
step) into a folder workspace (``serving.sdk.run.Run``, the metrics file written by the
background writer) and into a run that reports to the server (``ReportingRun`` with a run
token, batches POSTed by the background writer, as a Docker run of a server's workspace
does); each timed until every record is written (``flush``) and checked on the server.
For contrast, records sent one POST each (``--unbatched`` of them) without batching.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from serving.deploy.toolkit import free_port  # noqa: E402
from serving.hub.launch import HubServerOptions, hub_argv, hub_env  # noqa: E402
from serving.hub.tokens import TokenStore  # noqa: E402
from serving.registry.db import Database  # noqa: E402
from serving.runs import metrics as m  # noqa: E402
from serving.runs import records as rec  # noqa: E402
from serving.runs import run_tokens  # noqa: E402
from serving.runs.reporting import RunReporter  # noqa: E402
from serving.runs.store import RunStore  # noqa: E402
from serving.workspace import Workspace  # noqa: E402

REAL_RUNS = 200
EXPERIMENTS = ("alpha", "beta", "gamma", "delta")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def copy_runs(db: Database, total: int) -> list[str]:
    """Copies of the workspace's runs' rows (new ids, numbers and creation times), in one
    transaction, until it holds ``total`` runs; the copies' ids."""
    with db.write() as conn:
        rows = conn.execute("SELECT * FROM runs").fetchall()
        columns = rows[0].keys()
        numbers = {r["experiment_id"]: r["number"] for r in rows}
        copies = []
        for i in range(total - len(rows)):
            row = dict(rows[i % len(rows)])
            numbers[row["experiment_id"]] += 1
            row["number"] = numbers[row["experiment_id"]]
            row["id"] = f"bench_{i}_{uuid.uuid4().hex[:8]}"
            row["created_at"] = (
                f"2026-01-01T00:{i // 60000:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}+00:00"
            )
            copies.append(tuple(row[c] for c in columns))
        marks = ", ".join("?" * len(columns))
        conn.executemany(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({marks})", copies)
    return [copy[columns.index("id")] for copy in copies]


def seed_runs(ws: Workspace, store: RunStore, total: int) -> None:
    started = time.perf_counter()
    for i in range(min(REAL_RUNS, total)):
        record = store.create_run(EXPERIMENTS[i % 4], kind=rec.INTERACTIVE, target="local")
        store.set_status(record.id, (rec.COMPLETED, rec.FAILED)[i % 7 == 0])
    copy_runs(ws.db, total)
    say(f"seeded {total} runs in {time.perf_counter() - started:.1f} s")


def seed_metric(store: RunStore, points: int) -> str:
    record = store.create_run("long", kind=rec.INTERACTIVE, target="local")
    writer = m.MetricsWriter(store.metrics_file(record.id))
    for i in range(points):
        writer.add("loss", m.SCALAR, 1.0 / (i + 1), i)
    writer.flush()
    store.set_status(record.id, rec.COMPLETED)
    return record.id


def timed(session: requests.Session, url: str, repeat: int) -> tuple[float, float, float, int]:
    """(first call ms, p50 ms, p95 ms, bytes) of ``repeat`` calls after the first."""
    started = time.perf_counter()
    session.get(url, timeout=60).raise_for_status()
    first = (time.perf_counter() - started) * 1000
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        answer = session.get(url, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        size = len(answer.content)
    times.sort()
    return first, statistics.median(times), times[int(0.95 * (len(times) - 1))], size


def deep_token(session: requests.Session, base: str, pages: int) -> str:
    url, token = f"{base}/runs?limit=50", ""
    for _ in range(pages):
        token = session.get(url, timeout=60).json()["next"]
        url = f"{base}/runs?limit=50&after={token}"
    return token


@contextlib.contextmanager
def served(workspace: Path) -> Iterator[str]:
    """A real workspace server (gunicorn, 2 gthread workers) on a free loopback port for
    the ``with`` block; its base URL."""
    options = HubServerOptions(workspace, port=free_port(), workers=2)
    server = subprocess.Popen(
        hub_argv(options), env=hub_env(options),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield options.url
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--log-records", type=int, default=100_000)
    parser.add_argument("--unbatched", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        ws = Workspace.open(Path(tmp) / "ws", create=True)
        store = RunStore(ws.path, ws.db)
        seed_runs(ws, store, args.runs)
        long_run = seed_metric(store, args.points)
        _record, token = TokenStore(ws.db).create("bench", read_only=True)
        with served(ws.path) as url:
            run_bench(url + "/api/v1", token, long_run, args)
            log_bench(ws, store, url, args)


def run_bench(base: str, token: str, long_run: str, args: argparse.Namespace) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + 60
    while True:
        try:
            session.get(f"{base}/experiments", timeout=5).raise_for_status()
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    metrics = f"{base}/runs/{long_run}/metrics?max_points=1000"
    deep = max(1, min(99, args.runs // 50 - 2))
    token = deep_token(session, base, deep)
    cases = [
        ("runs list, first page (50)", f"{base}/runs?limit=50"),
        (f"runs list, page {deep + 1} (50)", f"{base}/runs?limit=50&after={token}"),
        ("runs list, one experiment (50)", f"{base}/runs?experiment=beta&limit=50"),
        ("runs list, status=Failed (50)", f"{base}/runs?status=Failed&limit=50"),
        ("runs list, 1000 per page", f"{base}/runs?limit=1000"),
        (f"metrics, {args.points} points -> 1000", metrics),
    ]  # fmt: skip
    print(f"workspace: {args.runs} runs; {args.repeat} calls each, loopback, 2 gthread workers")
    print(f"{'call':<40} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>9}")
    for label, url in cases:
        first, p50, p95, size = timed(session, url, args.repeat)
        print(f"{label:<40} {first:>9.1f} {p50:>8.1f} {p95:>8.1f} {size:>9}")
    print("metrics: the first call parses the file; later calls read only what was appended")
    print("since (each worker keeps the last 8 files read), so they cost downsampling and JSON.")


def _log_rate(run: object, records: int) -> tuple[float, float]:
    """(calls/s of ``run.log`` alone, records/s until all are written)."""
    started = time.perf_counter()
    for i in range(records):
        run.log("loss", 1.0 / (i + 1), step=i)  # type: ignore[attr-defined]
    calls = time.perf_counter() - started
    run.flush()  # type: ignore[attr-defined]
    return records / calls, records / (time.perf_counter() - started)


def log_bench(ws: Workspace, store: RunStore, url: str, args: argparse.Namespace) -> None:
    from serving.sdk.run import Run
    from serving.sdk.run_reporting import ReportingRun

    n = args.log_records
    folder = store.create_run("log", kind=rec.INTERACTIVE, target="local", status=rec.RUNNING)
    folder_rates = _log_rate(Run.get(ws, folder.id), n)  # type: ignore[arg-type]
    remote = store.create_run("log", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING)
    reporter = RunReporter(url, run_tokens.mint(ws.db, remote.id), remote.id)
    remote_rates = _log_rate(ReportingRun(reporter), n)
    counted = len(m.history(store.metrics_file(remote.id))["loss"])
    assert counted == n, f"the server holds {counted} of {n} records"
    one = store.create_run("log", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING)
    single = RunReporter(url, run_tokens.mint(ws.db, one.id), one.id)
    started = time.perf_counter()
    for i in range(args.unbatched):
        line = f'{{"n":"loss","k":"scalar","v":{1.0 / (i + 1)!r},"s":{i},"t":{time.time()}}}\n'
        single.post_metrics(line.encode())
    unbatched = args.unbatched / (time.perf_counter() - started)
    print(f"\nrun.log, {n} records of one metric{'':<12} {'calls/s':>10} {'written/s':>10}")
    print(
        f"{'folder workspace (metrics file)':<48} {folder_rates[0]:>10.0f} {folder_rates[1]:>10.0f}"
    )
    print(f"{'server, batched (run token, background POSTs)':<48} "
          f"{remote_rates[0]:>10.0f} {remote_rates[1]:>10.0f}")  # fmt: skip
    print(f"{f'server, one POST per record ({args.unbatched})':<48} {'':>10} {unbatched:>10.0f}")


if __name__ == "__main__":
    main()
