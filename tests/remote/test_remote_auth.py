"""Against a workspace server: tokens (401 missing/wrong/revoked, 403 read-only on a
write) as one-line CLI errors with their exit codes; commands that need the workspace
folder refuse a server in one line; the server is found by URL, by SERVING_WORKSPACE and
by a config.json (whose token must be private); the upload cap answers 413."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from serving.cli.main import main
from serving.config import PlatformSettings
from serving.errors import NotFoundError, UserInputError
from serving.hub.errors import Forbidden, Unauthorized
from serving.registry import Ref
from serving.runs.store import RunStore
from serving.sdk import Model, Workspace
from serving.sdk.server_workspace import ServerWorkspace
from serving.workspace import Workspace as FolderWorkspace
from tests.helpers import DIGITS_ARGS, CliResult
from tests.hub.openapi_check import check
from tests.remote_fixtures import HubProcess, start_hub, stop_hub

Run = Callable[..., CliResult]
CAP = 64 * 1024


@pytest.fixture()
def run(
    hub_server: HubProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    """The CLI in-process with SERVING_WORKSPACE = the server and the token given."""
    hub_server.reset()
    monkeypatch.setenv("SERVING_WORKSPACE", hub_server.base)
    monkeypatch.setenv("COLUMNS", "200")

    def call(*args: object, token: str | None = "rw") -> CliResult:
        if token is None:
            monkeypatch.delenv("SERVING_TOKEN", raising=False)
        else:
            monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens.get(token, token))
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return call


def one_line(result: CliResult, code: int, *needles: str) -> str:
    assert result.code == code, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("token", [None, "srvt_wrong", "gone"], ids=["missing", "wrong", "revoked"])
def test_no_valid_token_is_401_one_line(run: Run, token: str | None, digits_model: Path) -> None:
    for args in (("models", "list"), ("models", "register", digits_model, "-n", "m"),
                 ("envs", "list"), ("images", "list"), ("endpoints", "list")):  # fmt: skip
        line = one_line(run(*args, token=token), Unauthorized.exit_code)
        assert "token" in line.lower()
    if token is None:
        assert "SERVING_TOKEN" in line


def test_read_only_token_reads_but_cannot_write(
    run: Run, hub_server: HubProcess, digits_model: Path
) -> None:
    assert run("models", "register", digits_model, "-n", "digits").code == 0
    assert run("models", "list", "-o", "json", token="ro").json()[0]["id"] == "digits:1"  # type: ignore[index]
    for args in (
        ("models", "register", digits_model, "-n", "digits"),
        ("models", "delete", "digits:1"),
        ("models", "update", "digits:1", "--tag", "a=b"),
    ):
        one_line(run(*args, token="ro"), Forbidden.exit_code, "read-only")
    hub_server.ws.endpoints.create("svc", "local", {}, ["k1", "k2"], [])
    one_line(run("endpoints", "keys", "svc", token="ro"), Forbidden.exit_code)
    assert [m.ref for m in hub_server.ws.models.list()] == ["digits:1"]  # nothing changed


@pytest.mark.parametrize(
    "args",
    [
        ("deploy", "svc", *DIGITS_ARGS),
        ("images", "build", *DIGITS_ARGS),
        ("endpoints", "delete", "svc"),
        ("endpoints", "keys", "svc", "--regen", "primary"),
        ("models", "convert", "digits:1"),
        ("workspace", "gc"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_folder_commands_refuse_a_server_in_one_line(run: Run, args: tuple[str, ...]) -> None:
    one_line(run(*args), 2, "not available against a workspace server yet")


def test_workspace_show_names_the_server(run: Run, hub_server: HubProcess) -> None:
    shown = run("workspace", "show", "-o", "json").json()
    assert shown == {"name": hub_server.ws.name, "url": hub_server.base, "models": 0,
                     "environments": 0, "endpoints": 0}  # fmt: skip
    details = ServerWorkspace(hub_server.base, hub_server.tokens["rw"]).get_details()
    host = hub_server.base.split("://")[1]  # the SDK's name for a server, as in v1's config
    assert (details["name"], details["friendlyName"]) == (host, host)
    assert details["workspaceName"] == hub_server.ws.name and details["models"] == 0


def test_workspace_option_takes_a_url(
    hub_server: HubProcess, digits_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    hub_server.reset()
    monkeypatch.setenv("SERVING_WORKSPACE", str(tmp_path / "folder"))  # the option wins
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    code = main(["--workspace", hub_server.base, "models", "register", str(digits_model),
                 "-n", "digits"])  # fmt: skip
    assert code == 0 and capsys.readouterr().out.strip() == "digits:1"
    assert [m.ref for m in hub_server.ws.models.list()] == ["digits:1"]
    assert not (tmp_path / "folder").exists()


def test_sdk_finds_the_server_by_url_env_and_config(
    hub_server: HubProcess, digits_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_server.reset()
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    by_get = Workspace.get(path=hub_server.base)
    by_new = Workspace(hub_server.base)
    assert isinstance(by_get, ServerWorkspace) and isinstance(by_new, ServerWorkspace)
    Model.register(by_new, model_path=str(digits_model), model_name="digits")
    monkeypatch.setenv("SERVING_WORKSPACE", hub_server.base)
    assert Model(Workspace.get(), "digits").version == 1
    monkeypatch.delenv("SERVING_WORKSPACE")
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    by_get.write_config(project)
    config = project / ".azureml" / "config.json"
    assert json.loads(config.read_text()) == {"workspace_url": hub_server.base}
    found = Workspace.from_config(project / "src")
    assert isinstance(found, ServerWorkspace) and found.url == hub_server.base
    assert [m.id for m in Model.list(found)] == ["digits:1"]
    with pytest.raises(UserInputError, match="workspace folder"):  # never a folder instead
        FolderWorkspace.discover(settings=PlatformSettings(workspace_url=hub_server.base))


def test_a_token_in_config_json_must_be_private(
    hub_server: HubProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_server.reset()
    monkeypatch.delenv("SERVING_TOKEN", raising=False)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"workspace_url": hub_server.base, "token": hub_server.tokens["ro"]})
    )
    os.chmod(config, 0o644)
    with pytest.raises(UserInputError, match="others can read it") as caught:
        Workspace.from_config(config)
    assert "chmod 600" in caught.value.one_line() and "srvt_" not in caught.value.one_line()
    os.chmod(config, 0o600)
    found = Workspace.from_config(config)
    assert isinstance(found, ServerWorkspace) and found.models.list() == []
    ServerWorkspace(hub_server.base, hub_server.tokens["rw"]).write_config(
        tmp_path / "w", token=True
    )
    written = tmp_path / "w" / ".azureml" / "config.json"
    assert written.stat().st_mode & 0o777 == 0o600
    assert json.loads(written.read_text())["token"] == hub_server.tokens["rw"]
    os.chmod(config, 0o644)  # a link is judged by the file it leads to
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "config.json").symlink_to(config)
    with pytest.raises(UserInputError, match="others can read it"):
        Workspace.from_config(tmp_path / "linked" / "config.json")
    written.chmod(0o644)  # rewritten whole, 0600 again, no temporary file left
    ServerWorkspace(hub_server.base, hub_server.tokens["rw"]).write_config(
        tmp_path / "w", token=True
    )
    assert written.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in written.parent.iterdir()] == ["config.json"]


def test_environment_register_route_matches_the_document(hub_server: HubProcess) -> None:
    hub_server.reset()
    url = f"{hub_server.base}/api/v1/environments/e"
    headers = {"Authorization": f"Bearer {hub_server.tokens['rw']}"}
    spec = {"name": "e", "python": "3.11", "requirements": ["numpy"], "source_format": "pip"}
    body = {"spec": spec, "source_text": "numpy\n", "source_name": "requirements.txt"}
    first = requests.post(url, json=body, headers=headers, timeout=30)
    assert first.status_code == 201 and check(first, hub_server.base)["created"] is True
    again = requests.post(url, json=body, headers=headers, timeout=30)
    assert again.status_code == 200 and check(again, hub_server.base)["version"] == 1
    bad = requests.post(url, json={"spec": {"name": "e"}}, headers=headers, timeout=30)
    assert bad.status_code == 400 and check(bad, hub_server.base)["error"]["message"]
    ro = {"Authorization": f"Bearer {hub_server.tokens['ro']}"}
    assert requests.post(url, json=body, headers=ro, timeout=30).status_code == 403


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    tmp = tmp_path_factory.mktemp("capped")
    ws = FolderWorkspace.open(tmp / "ws", create=True)
    hub = start_hub(ws, tmp / "server.log", SERVING_SERVER_MAX_UPLOAD_BYTES=str(CAP))
    try:
        yield hub
    finally:
        stop_hub(hub)


def _zeros_tar(size: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    return gzip.compress(raw.getvalue())


def test_uploads_over_the_cap_are_413_and_leave_nothing(capped: HubProcess, tmp_path: Path) -> None:
    remote = ServerWorkspace(capped.base, capped.tokens["rw"])
    small = tmp_path / "small.bin"
    small.write_bytes(b"s" * (CAP // 2))
    assert remote.models.register(small, "ok").version == 1
    big = tmp_path / "big.bin"
    big.write_bytes(b"b" * (CAP + 1))
    with pytest.raises(UserInputError, match="larger than this server accepts"):
        remote.models.register(big, "big")
    bomb = _zeros_tar(CAP * 16)  # a few hundred bytes that unpack to 1 MiB
    assert len(bomb) < CAP
    answer = requests.post(
        f"{capped.base}/api/v1/models/bomb?filename=bomb", data=bomb,
        headers={"Authorization": f"Bearer {capped.tokens['rw']}",
                 "Content-Type": "application/gzip"}, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 413
    assert check(answer, capped.base)["error"]["code"] == "TooLarge"
    chunked = requests.post(
        f"{capped.base}/api/v1/models/chunked?filename=c.bin",
        data=iter([b"c" * CAP, b"c" * CAP]),
        headers={"Authorization": f"Bearer {capped.tokens['rw']}",
                 "Content-Type": "application/octet-stream"}, timeout=30,
    )  # fmt: skip
    assert chunked.status_code == 413
    assert [m.ref for m in capped.ws.models.list()] == ["ok:1"]
    assert not list((capped.ws.path / "tmp" / "uploads").glob("*/*"))
    with pytest.raises(NotFoundError):
        remote.models.get(Ref("big"))


def test_run_uploads_and_submissions_obey_the_cap(capped: HubProcess) -> None:
    """The cap holds on every upload route, not only model registration: a run's files
    (one file, a folder's tar) and a submitted job's tar."""
    runs = RunStore(capped.ws.path, capped.ws.db)
    run_id = runs.create_run("capped", kind="script", target="local").id
    auth = {"Authorization": f"Bearer {capped.tokens['rw']}"}
    url = f"{capped.base}/api/v1"
    answers = [
        requests.post(
            f"{url}/runs/{run_id}/files?name=outputs/big.bin", data=b"b" * (CAP + 1),
            headers=auth | {"Content-Type": "application/octet-stream"}, timeout=30,
        ),
        requests.post(
            f"{url}/runs/{run_id}/files?name=outputs/folder", data=_zeros_tar(CAP * 16),
            headers=auth | {"Content-Type": "application/gzip"}, timeout=30,
        ),
        requests.post(
            f"{url}/experiments/capped/runs", data=iter([b"c" * CAP, b"c" * CAP]),
            headers=auth | {"Content-Type": "application/x-tar"}, timeout=30,
        ),
    ]  # fmt: skip
    for answer in answers:
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "TooLarge"
    check(answers[0], capped.base)
    assert [r.id for r in runs.list(experiment="capped")] == [run_id]  # none submitted
    assert not list((capped.ws.path / "tmp" / "uploads").glob("*/*"))
