"""The gunicorn command line as data, the settings as environment, and the log helpers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from serving.config import ServerSettings
from serving.server.gunicorn import bind_address, gunicorn_argv, gunicorn_env
from serving.server.logs import LogWriter, describe_tree


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_single_threaded_workers_use_the_keepalive_worker() -> None:
    settings = ServerSettings(
        app_root=Path("/var/azureml-app"),
        host="0.0.0.0",
        port=5001,
        workers=3,
        threads=1,
        worker_timeout_s=300,
        graceful_timeout_s=20,
        keepalive_s=7,
    )
    argv = gunicorn_argv(settings, python="/opt/venv/bin/python")
    assert argv[:3] == ["/opt/venv/bin/python", "-m", "gunicorn"]
    assert _option(argv, "--bind") == "0.0.0.0:5001"
    assert _option(argv, "--workers") == "3"
    assert _option(argv, "--timeout") == "300"
    assert _option(argv, "--graceful-timeout") == "20"
    assert _option(argv, "--worker-class") == "serving.server.worker.KeepAliveWorker"
    assert _option(argv, "--keep-alive") == "7"
    assert _option(argv, "--config") == "python:serving.server.gunicorn_hooks"
    assert _option(argv, "--chdir") == "/var/azureml-app"
    assert "--no-control-socket" in argv
    assert "--preload" not in argv
    assert "--threads" not in argv
    assert argv[-1] == "serving.server.wsgi:create_app()"


def test_threads_select_gthread() -> None:
    argv = gunicorn_argv(ServerSettings(threads=8))
    assert argv[0] == sys.executable
    assert _option(argv, "--worker-class") == "gthread"
    assert _option(argv, "--threads") == "8"


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", "127.0.0.1:80"), ("::", "[::]:80"), ("[::1]", "[::1]:80")],
)
def test_bind_address(host: str, expected: str) -> None:
    assert bind_address(host, 80) == expected


def test_settings_round_trip_through_the_environment() -> None:
    settings = ServerSettings(
        app_root=Path("/app"),
        entry_script="src/score.py",
        source_directory="src",
        model_dir=Path("/app/azureml-models/m/1"),
        host="127.0.0.1",
        port=6000,
        workers=2,
        threads=4,
        scoring_timeout_ms=1234,
        max_body_bytes=99,
        keys=("a", "b"),
        service_name="svc",
        replica_id="r1",
        metrics_dir=Path("/tmp/m"),
        access_log=False,
        version_header=False,
        cors_origins="*",
        service_version="2.0",
        service_path_prefix="/api",
        graceful_timeout_s=5,
        keepalive_s=3,
        log_level="DEBUG",
    )
    assert ServerSettings.from_env(settings.to_env()) == settings
    defaults = ServerSettings(workers=1)
    assert ServerSettings.from_env(defaults.to_env()) == defaults


def test_gunicorn_env_holds_settings_and_unbuffered_output() -> None:
    env = gunicorn_env(ServerSettings(scoring_timeout_ms=500, keys=("k",)))
    assert env["SCORING_TIMEOUT_MS"] == "500"
    assert env["SERVING_KEYS"] == "k"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert "PROMETHEUS_MULTIPROC_DIR" not in env
    assert gunicorn_env(ServerSettings(metrics_dir=Path("/m")))["PROMETHEUS_MULTIPROC_DIR"] == "/m"


def test_log_writer_logs_complete_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="azmlinfsrv.print")
    writer = LogWriter(logging.getLogger("azmlinfsrv.print"))
    print("first", "line", file=writer)
    writer.write("partial")
    assert [r.getMessage() for r in caplog.records] == ["first line"]
    writer.write(" end\nnext\r\n")
    writer.write("tail")
    writer.flush()
    assert [r.getMessage() for r in caplog.records] == ["first line", "partial end", "next", "tail"]
    assert not writer.isatty()


def test_describe_tree(tmp_path: Path) -> None:
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "1" / "model.pkl").write_bytes(b"123")
    text = describe_tree(tmp_path)
    assert "m/1/model.pkl (3 bytes)" in text
    assert "does not exist" in describe_tree(tmp_path / "missing")
    assert "not set" in describe_tree(None)
