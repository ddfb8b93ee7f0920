"""`serving server ...` from the command line: tokens, and start/stop of the real server."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from serving.deploy.toolkit import free_port
from tests.helpers import Cli, cli_env, serving_cmd

pytestmark = pytest.mark.timeout(120)


def test_tokens_create_list_revoke(cli: Cli) -> None:
    made = cli("server", "tokens", "create", "alice")
    assert made.code == 0 and made.out.strip().startswith("srvt_")
    assert "not shown again" in made.err
    ro = cli("-o", "json", "server", "tokens", "create", "bob", "--read-only")
    assert json.loads(ro.out)["read_only"] is True
    listed = json.loads(cli("-o", "json", "server", "tokens", "list").out)
    assert [(t["name"], t["read_only"], t["revoked"]) for t in listed] == [
        ("alice", False, False),
        ("bob", True, False),
    ]
    assert "token" not in listed[0] and made.out.strip() not in json.dumps(listed)
    assert cli("server", "tokens", "revoke", "alice").code == 0
    again = cli("server", "tokens", "revoke", "alice")
    assert again.code == 3 and again.err.startswith("error: no live token named alice")
    dup = cli("server", "tokens", "create", "bob")
    assert dup.code == 4 and "already exists" in dup.err
    assert cli("server", "tokens", "create", "no good").code == 2


def test_start_serves_and_stops_cleanly_on_sigterm(cli: Cli, ws_path: Path) -> None:
    token = cli("server", "tokens", "create", "t").out.strip()
    port = free_port()
    process = subprocess.Popen(
        serving_cmd("server", "start", "--port", str(port), "--workers", "1"),
        env=cli_env(ws_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/experiments"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline
            try:
                answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json() == {"items": []}
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/api/v1" in err and "Shutting down" in err


def test_start_on_a_taken_port_is_one_error_line(cli: Cli) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = cli("server", "start", "--port", str(port))
    assert result.code == 4
    assert result.err.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert len(result.err.strip().splitlines()) == 1
