"""Scoring server benchmark: this server vs azureml-inference-server-http, same score.py.

One run on one machine: trains the digits LogisticRegression, serves the scikit-learn
template's score.py with `serving serve` and with `azmlinfsrv` (1.5.1, installed from PyPI
into its own venv under bench/.work), the same worker count for both, and loads each with
wrk at 1, 8 and 32 connections for one-row and 100-row JSON bodies. Servers alternate
(A/B/A/B...) and the medians of the rounds are reported, with the ratio ours/theirs.

    python bench/server_bench.py [--duration 8] [--rounds 2] [--workers 1]

Needs `wrk` (Debian package: apt-get install wrk). Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
TEMPLATE = ROOT / "scoring_templates" / "sklearn"
THEIRS_PIN = "azureml-inference-server-http==1.5.1"
CONNECTIONS = (1, 8, 32)
BODIES = ("1row", "100rows")


@dataclass
class Result:
    server: str
    body: str
    conns: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(work: Path) -> tuple[Path, dict[str, Path]]:
    """The model, and the two request bodies."""
    model_dir = work / "model"
    if not (model_dir / "model.pkl").is_file():
        say("training the digits model")
        subprocess.run(
            [sys.executable, str(TEMPLATE / "train.py"), "--output", str(model_dir / "model.pkl")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    from sklearn.datasets import load_digits

    x = load_digits().data
    bodies = {}
    for name, rows in (("1row", 1), ("100rows", 100)):
        path = work / f"{name}.json"
        path.write_text(json.dumps({"data": x[:rows].tolist()}))
        bodies[name] = path
    return model_dir, bodies


def peer_venv(venv: Path, pins: tuple[str, ...]) -> Path:
    """A virtual environment holding a peer server's packages, installed once (shared by
    the other benchmarks in this folder)."""
    marker = venv / ".ready"
    if not marker.is_file() or marker.read_text() != " ".join(pins):
        say(f"installing {pins[0]} into {venv} (once)")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--disable-pip-version-check", *pins], check=True)
        marker.write_text(" ".join(pins))
    return venv


def theirs_venv(work: Path) -> Path:
    return peer_venv(
        work / "azmlinfsrv-venv", (THEIRS_PIN, "scikit-learn==1.9.*", "joblib", "numpy")
    )


def start(
    server: str, model_dir: Path, port: int, workers: int, venv: Path, log: Path
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if server == "ours":
        argv = [
            sys.executable,
            "-m",
            "serving",
            "serve",
            "--entry-script",
            str(TEMPLATE / "score.py"),
            "--model-dir",
            str(model_dir),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        env["SERVING_ACCESS_LOG"] = env.get("SERVING_ACCESS_LOG", "true")
    else:
        argv = [
            str(venv / "bin" / "azmlinfsrv"),
            "--entry_script",
            str(TEMPLATE / "score.py"),
            "--model_dir",
            str(model_dir),
            "--port",
            str(port),
            "--worker_count",
            str(workers),
        ]
        env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=log.parent,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{server} server exited; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{server} server not ready after 60 s; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


_LAT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str, body: Path, conns: int, duration: int, lua: Path
) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p99 ms, errors) of wrk POSTing ``body`` to ``url`` (one thread);
    shared by the other benchmarks in this folder."""
    env = dict(os.environ, WRK_BODY=str(body))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        env=env,
        timeout=duration + 60,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {m[0]: float(m[1]) * _UNITS[m[2]] for m in _LAT.findall(out)}
    errors = sum(
        int(n)
        for n in re.findall(r"(?:Non-2xx or 3xx responses|timeout|read|write|connect)\s*(\d+)", out)
    )
    return rps, lat.get("50", 0.0), lat.get("99", 0.0), errors


LUA = """
local f = io.open(os.getenv("WRK_BODY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds per setting")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    WORK.mkdir(parents=True, exist_ok=True)
    model_dir, bodies = prepare(WORK)
    venv = theirs_venv(WORK)
    lua = WORK / "post.lua"
    lua.write_text(LUA)
    say(f"load average before: {os.getloadavg()[0]:.2f}")
    results: list[Result] = []
    for round_no in range(args.rounds):
        for server in ("ours", "theirs"):
            port = free_port()
            proc = start(server, model_dir, port, args.workers, venv, WORK / f"{server}.log")
            try:
                for body in BODIES:
                    url = f"http://127.0.0.1:{port}/score"
                    wrk(url, bodies[body], 8, 2, lua)  # warm-up
                    for conns in CONNECTIONS:
                        rps, p50, p99, errors = wrk(url, bodies[body], conns, args.duration, lua)
                        results.append(Result(server, body, conns, rps, p50, p99, errors))
                        say(
                            f"round {round_no + 1} {server:6} {body:7} c={conns:<2} "
                            f"{rps:8.0f} req/s p50 {p50:6.2f} ms p99 {p99:6.2f} ms"
                        )
            finally:
                stop(proc)
    report(results, args)


def _median(results: list[Result], server: str, body: str, conns: int) -> Result:
    runs = [r for r in results if (r.server, r.body, r.conns) == (server, body, conns)]
    return Result(
        server,
        body,
        conns,
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
    )


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\nscoring server benchmark: {args.workers} worker(s), wrk -t1, {args.duration} s "
        f"per run, median of {args.rounds} rounds, {os.cpu_count()} cores"
    )
    print(
        f"{'body':8} {'conns':>5} | {'ours req/s':>10} {'p50':>7} {'p99':>7} | "
        f"{'theirs req/s':>12} {'p50':>7} {'p99':>7} | {'ratio':>5} {'errors':>6}"
    )
    summary = []
    for body in BODIES:
        for conns in CONNECTIONS:
            ours = _median(results, "ours", body, conns)
            theirs = _median(results, "theirs", body, conns)
            ratio = ours.rps / theirs.rps if theirs.rps else float("inf")
            print(
                f"{body:8} {conns:>5} | {ours.rps:>10.0f} {ours.p50_ms:>7.2f} "
                f"{ours.p99_ms:>7.2f} | {theirs.rps:>12.0f} {theirs.p50_ms:>7.2f} "
                f"{theirs.p99_ms:>7.2f} | {ratio:>5.2f} {ours.errors + theirs.errors:>6}"
            )
            summary.append(
                {
                    "body": body,
                    "conns": conns,
                    "ours": vars(ours),
                    "theirs": vars(theirs),
                    "ratio": ratio,
                }
            )
    target = next(s for s in summary if s["body"] == "1row" and s["conns"] == 8)
    ok = target["ratio"] >= 1.7 and target["ours"]["p99_ms"] <= target["theirs"]["p99_ms"]
    print(
        f"\ntarget (1 row, 8 conns): ratio {target['ratio']:.2f} (>= 1.7), p99 "
        f"{target['ours']['p99_ms']:.2f} ms vs {target['theirs']['p99_ms']:.2f} ms: "
        f"{'MET' if ok else 'NOT MET'}"
    )
    (WORK / "server_bench.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
