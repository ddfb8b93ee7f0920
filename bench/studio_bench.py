"""Studio benchmark: the runs table page of an experiment with 10 000 runs (first page,
sorted by a metric column, a deep page reached by page tokens, sorted by duration) and the
run page of a run with 100 000 points of one metric (the HTML and the chart data the page
fetches, downsampled to 1 000 points), against the real server (gunicorn, 2 gthread
workers) on 127.0.0.1, signed in with a session cookie.

    python bench/studio_bench.py [--runs 10000] [--points 100000] [--repeat 30]

Seeding: 200 runs are made by ``RunStore`` (each with a metric, so its summary is written
when it ends); the rest are copies of their rows, and of their ``run_metric_summary``
rows with other values (``hub_bench.copy_runs``), so seeding takes seconds.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.hub_bench import copy_runs, say, seed_metric, served, timed  # noqa: E402
from serving.hub.tokens import TokenStore  # noqa: E402
from serving.runs import metrics as m  # noqa: E402
from serving.runs import records as rec  # noqa: E402
from serving.runs.store import RunStore  # noqa: E402
from serving.workspace import Workspace  # noqa: E402

REAL_RUNS = 200
EXPERIMENT = "bench"


def seed(store: RunStore, total: int) -> None:
    started = time.perf_counter()
    rng = random.Random(0)
    for _ in range(min(REAL_RUNS, total)):
        record = store.create_run(EXPERIMENT, kind=rec.INTERACTIVE, target="local")
        writer = m.MetricsWriter(store.metrics_file(record.id))
        writer.add("acc", m.SCALAR, rng.random(), 0)
        writer.flush()
        store.set_status(record.id, rec.RUNNING)
        store.set_status(record.id, rec.COMPLETED)
    sums = []
    for run_id in copy_runs(store.db, total):
        value = rng.random()
        sums.append((run_id, "acc", 1, value, value, value, "2026-01-01T00:00:00+00:00"))
    with store.db.write() as conn:
        conn.executemany("INSERT INTO run_metric_summary VALUES (?, ?, ?, ?, ?, ?, ?)", sums)
    say(f"seeded {total} runs in {time.perf_counter() - started:.1f} s")


def sign_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    deadline = time.monotonic() + 60
    while True:
        try:
            form = session.get(f"{base}/login", timeout=5)
            form.raise_for_status()
            found = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
            assert found, "no sign-in form"
            data = {"token": token, "login_csrf": found.group(1)}
            answer = session.post(f"{base}/login", data=data, timeout=5)
            answer.raise_for_status()
            return session
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def deep_url(session: requests.Session, first: str, pages: int) -> str:
    url = first
    for _ in range(pages):
        found = re.search(r'id="next-page" href="([^"]+)"', session.get(url, timeout=60).text)
        assert found, "no next page"
        url = first.split("/studio/")[0] + found.group(1).replace("&amp;", "&")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
        ws = Workspace.open(Path(tmp) / "ws", create=True)
        store = RunStore(ws.path, ws.db)
        seed(store, args.runs)
        long_run = seed_metric(store, args.points)
        _record, token = TokenStore(ws.db).create("bench", read_only=True)
        with served(ws.path) as url:
            run_bench(url + "/studio", token, long_run, args)


def run_bench(base: str, token: str, long_run: str, args: argparse.Namespace) -> None:
    session = sign_in(base, token)
    table = f"{base}/experiments/{EXPERIMENT}"
    by_metric = f"{table}?sort=metric:acc&dir=desc"
    deep = max(1, min(99, args.runs // 50 - 2))
    chart = f"{base}/data/runs/{long_run}/metrics?max_points=1000"
    cases = [
        ("experiments list", f"{base}/experiments"),
        ("runs table, created, page 1 (50)", table),
        ("runs table, by metric acc, page 1", by_metric),
        (f"runs table, by metric acc, page {deep + 1}", deep_url(session, by_metric, deep)),
        ("runs table, by duration, page 1", f"{table}?sort=duration"),
        (f"run page ({args.points} points), HTML", f"{base}/runs/{long_run}"),
        ("run page chart data (-> 1000 points)", chart),
    ]  # fmt: skip
    print(f"experiment: {args.runs} runs; {args.repeat} calls each, loopback, 2 gthread workers")
    print(f"{'page':<42} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>9}")
    for label, url in cases:
        first, p50, p95, size = timed(session, url, args.repeat)
        print(f"{label:<42} {first:>9.1f} {p50:>8.1f} {p95:>8.1f} {size:>9}")


if __name__ == "__main__":
    main()
