"""Auth fails closed: keys files deleted, emptied, unreadable or recreated (under real
gunicorn with two workers for the lifecycle; the rest through the in-process app)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from flask.testing import FlaskClient

from tests.inprocess import ClientFor, settings_for

if TYPE_CHECKING:
    from tests.server.conftest import ServerProcess

Factory = Callable[..., "ServerProcess"]
KEY = {"Authorization": "Bearer key-one"}


def _statuses(server: ServerProcess, headers: dict[str, str] | None = None) -> list[int]:
    """Status of /score and /swagger.json; a 401 must be the JSON answer with the challenge."""
    statuses = []
    for method, path in (("POST", "/score"), ("GET", "/swagger.json")):
        response = requests.request(
            method, f"{server.url}{path}", data="[1]", headers=headers, timeout=10
        )
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "message" in response.json()
        statuses.append(response.status_code)
    return statuses


def _replace(path: Path, text: str) -> None:
    """Write a new file and rename it into place, as ``endpoints keys --regen`` does."""
    staged = path.with_suffix(".new")
    staged.write_text(text)
    staged.replace(path)


@pytest.mark.slow
def test_keys_file_lifecycle(server_factory: Factory, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("key-one\n")
    server = server_factory("ok.py", keys_file=keys_file, auth="key", workers=2)
    assert _statuses(server) == [401, 401]
    assert _statuses(server, KEY) == [200, 200]
    keys_file.unlink()  # deleted means revoked
    assert _statuses(server, KEY) == [401, 401]
    keys_file.write_text("")
    assert _statuses(server, KEY) == [401, 401]
    _replace(keys_file, "key-two\nkey-one\n")
    assert _statuses(server, KEY) == [200, 200]
    assert _statuses(server, {"Authorization": "Bearer key-two"}) == [200, 200]
    for path in ("/", "/health/ready", "/metrics"):
        assert requests.get(f"{server.url}{path}", timeout=10).status_code == 200


def _app_statuses(client: FlaskClient, headers: dict[str, str] | None = None) -> list[int]:
    """``_statuses`` through the in-process app."""
    statuses = []
    for method, path in (("POST", "/score"), ("GET", "/swagger.json")):
        response = client.open(path, method=method, data="[1]", headers=headers)
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "message" in response.get_json()
        statuses.append(response.status_code)
    return statuses


def test_a_read_error_keeps_the_last_keys(
    client_for: ClientFor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("key-one\n")
    client = client_for("ok.py", keys_file=keys_file, auth="key")
    assert _app_statuses(client, KEY) == [200, 200]
    # stat() works but reading fails (EISDIR; EIO or EACCES as root cannot be caused here)
    keys_file.unlink()
    keys_file.mkdir()
    assert _app_statuses(client, KEY) == [200, 200]
    assert _app_statuses(client, {"Authorization": "Bearer other"}) == [401, 401]
    keys_file.rmdir()  # now really gone: revoked
    assert _app_statuses(client, KEY) == [401, 401]
    assert caplog.text.count("Cannot read the keys file") == 1


@pytest.mark.parametrize("content", [None, "", "\n  \n"])
def test_no_readable_key_at_start_is_401(
    client_for: ClientFor, tmp_path: Path, content: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    keys_file = tmp_path / "keys"
    if content is not None:
        keys_file.write_text(content)
    client = client_for("ok.py", keys_file=keys_file, auth="key")
    assert _app_statuses(client) == [401, 401]
    assert _app_statuses(client, KEY) == [401, 401]
    assert caplog.text.count("no key is configured or readable") == 1


def test_auth_none_is_open(client_for: ClientFor) -> None:
    assert _app_statuses(client_for("ok.py", auth="none")) == [200, 200]
    assert settings_for("ok.py", auth="none").to_env()["SERVING_AUTH"] == "none"
