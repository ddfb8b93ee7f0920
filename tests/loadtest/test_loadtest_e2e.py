"""`serving loadtest` end to end against the real scoring server with the digits model.

The acceptance checks of the load-test issue, kept short (a few users, a few seconds):
a registered endpoint passes with a report, a p99 SLO fails with exit code 8, the locust
file works by hand, and bad targets fail in one line before any load.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from serving.cli.loadtest import loadtest
from serving.cli.main import cli as cli_group
from serving.loadtest import run_loadtest
from serving.workspace import Workspace
from tests.helpers import ROOT, SAMPLE, SKLEARN, CliResult, serving_cmd

pytestmark = pytest.mark.slow

Cli = Callable[..., CliResult]
SCORE_PY = SKLEARN / "score.py"
KEYS = ("k-primary", "k-secondary")
SHORT = ("--users", "5", "--spawn-rate", "5", "--duration", "3s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model_dir: Path, log: Path, keys: tuple[str, ...] = ()) -> Iterator[str]:
    """`serving serve` on a free loopback port; yields its base URL once it is healthy."""
    port = free_port()
    env = dict(os.environ, SERVING_KEYS=",".join(keys), SERVING_ACCESS_LOG="false")
    argv = serving_cmd(
        "serve",
        "--entry-script",
        str(SCORE_PY),
        "--model-dir",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if requests.get(base + "/", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or listening while init() still runs
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def open_server(digits_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_server(digits_model.parent, tmp_path_factory.mktemp("srv") / "open.log")


@pytest.fixture(scope="module")
def auth_server(digits_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_server(digits_model.parent, tmp_path_factory.mktemp("srv") / "auth.log", KEYS)


@pytest.fixture(autouse=True)
def loadtest_command() -> None:
    """The lead registers the command in serving.cli.main; until then add it here."""
    if "loadtest" not in cli_group.commands:
        cli_group.add_command(loadtest)


def register(ws: Workspace, name: str, base: str, keys: tuple[str, ...] = ()) -> None:
    ws.endpoints.create(name, "local", {}, list(keys), [])
    ws.endpoints.update(
        name, scoring_uri=f"{base}/score", swagger_uri=f"{base}/swagger.json", state="Healthy"
    )


def one_line_error(result: CliResult, code: int, *needles: str) -> None:
    assert result.code == code, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and "Traceback" not in result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_registered_endpoint_passes_with_a_full_report(
    cli: Cli, ws: Workspace, open_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(ws, "digits-svc", open_server)
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "out"
    r = cli("loadtest", "digits-svc", *SHORT, "--report", "out/")  # relative to the cwd
    assert r.code == 0, r.err
    for header in ("requests", "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms"):
        assert header in r.out
    assert "ok   error rate 0.00% <= 1.00%" in r.out
    for name in ("report.html", "locust_stats.csv", "locust_stats_history.csv", "chart.png"):
        assert (report / name).is_file(), name
        assert str(report / name) in r.out
    assert "<html" in (report / "report.html").read_text().lower()
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] and summary["failures"] == 0 and summary["requests"] > 50
    assert summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"] + 1
    timeline = [json.loads(line) for line in (report / "timeline.jsonl").read_text().splitlines()]
    assert len(timeline) >= 2 and sum(p["requests"] for p in timeline) > 0
    assert (report / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert (report / "chart.png").stat().st_size > 20_000


def test_p99_slo_and_error_budget_fail_with_code_8(
    cli: Cli, open_server: str, tmp_path: Path
) -> None:
    payload = tmp_path / "mixed.jsonl"
    payload.write_text(SAMPLE.read_text().strip() + '\n{"data": [[1, 2]]}\n')
    report = tmp_path / "slo"
    r = cli(
        "loadtest",
        f"{open_server}/score",
        *SHORT,
        "--payload",
        payload,
        "--slo-p99-ms",
        "0.001",
        "--report",
        report,
        "-o",
        "json",
    )
    assert r.code == 8, r.err
    line = r.err.strip().splitlines()[-1]  # after the progress lines
    assert line.startswith("error: SLO failed: p99 "), line
    rate = re.search(r" > 0\.001 ms; error rate (\d+\.\d\d)% > 1\.00%$", line)
    assert rate is not None and 45 <= float(rate.group(1)) <= 55, line  # every other body
    summary = r.json()
    assert isinstance(summary, dict) and not summary["passed"]
    [group] = summary["failures_by_error"]
    assert group["status"] == 500 and "unexpected error" in group["message"]
    assert (report / "chart.png").is_file()


def test_locustfile_by_hand(auth_server: str, tmp_path: Path) -> None:
    env = dict(os.environ, SERVING_LOADTEST_KEY=KEYS[1])
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "loadtests" / "locustfile.py"),
        "--headless",
        "-u",
        "3",
        "-r",
        "3",
        "-t",
        "3s",
        "--host",
        auth_server,
        "--payload",
        str(SAMPLE),
        "--only-summary",
        "--csv",
        str(tmp_path / "hand"),
    ]
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = (tmp_path / "hand_stats.csv").read_text().splitlines()
    aggregated = next(r for r in rows if ",Aggregated," in r).split(",")
    assert int(aggregated[2]) > 0 and int(aggregated[3]) == 0  # requests, failures

    no_key = {k: v for k, v in env.items() if k != "SERVING_LOADTEST_KEY"}
    refused = subprocess.run(
        argv, env=no_key, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert refused.returncode == 2
    assert "requires a key (401)" in refused.stderr


def test_sdk_with_key_and_swagger_example(auth_server: str, tmp_path: Path) -> None:
    summary = run_loadtest(
        f"{auth_server}/score",
        users=3,
        spawn_rate=3,
        duration="3s",
        key=KEYS[0],
        report_dir=tmp_path / "sdk",
        slo_p99_ms=10_000,
    )
    assert summary.requests > 0 and summary.failures == 0, summary.failures_by_error
    assert summary.passed
    assert summary.report_files["html"] == tmp_path / "sdk" / "report.html"
    body = (tmp_path / "sdk" / "payload.jsonl").read_text()
    assert json.loads(body)["data"][0] == [0.0] * 64  # the swagger example of score.py


def test_registered_key_is_used(cli: Cli, ws: Workspace, auth_server: str, tmp_path: Path) -> None:
    register(ws, "secure", auth_server, KEYS)
    started = time.monotonic()
    r = cli("loadtest", "secure", "--key", "wrong", "--report", tmp_path / "never")
    one_line_error(r, 6, "secure rejected the key (401)", "serving endpoints keys secure")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "never").exists()


def test_bad_targets_fail_fast_in_one_line(
    cli: Cli, ws: Workspace, auth_server: str, tmp_path: Path
) -> None:
    report = tmp_path / "never"
    register(ws, "nokey", auth_server)  # registered without keys, but the server wants one
    cases = [
        (("nokey",), 6, "nokey requires a key (401)"),
        ((f"{auth_server}/score", "--payload", SAMPLE), 6, "requires a key (401)"),
        ((f"http://127.0.0.1:{free_port()}/score",), 6, "connection refused"),
        (("no-such-endpoint",), 3, "endpoint no-such-endpoint not found"),
        (("nokey", "--duration", "2h"), 2, "over the limit"),
    ]
    for args, code, needle in cases:
        started = time.monotonic()
        r = cli("loadtest", *args, "--report", report)
        one_line_error(r, code, needle)
        assert time.monotonic() - started < 10, args
    assert not report.exists()
