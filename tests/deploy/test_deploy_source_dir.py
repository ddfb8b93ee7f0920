"""``--source-dir .`` in a project that holds its own workspace, on the local target: the
workspace stays out of the app folder, ignore files are honoured, links are checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from serving.cli.main import main
from tests.helpers import FIXTURES, CliResult, write_source_project

pytestmark = pytest.mark.slow
Cli = Callable[..., CliResult]


@pytest.fixture()
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, Cli]:
    """A project folder (the current folder) with a workspace made by the CLI, a model
    registered in it, a score.py and an .amlignore."""
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.delenv("SERVING_WORKSPACE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(proj)

    def cli(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    assert cli("workspace", "create").code == 0
    assert (proj / ".serving" / "workspace.db").is_file()
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    assert cli("models", "register", model, "--name", "m").code == 0
    write_source_project(proj, FIXTURES / "ok.py")
    return proj, cli


def test_source_dir_dot_leaves_the_workspace_out_of_the_app_folder(
    project: tuple[Path, Cli], runtime_only_env: Path
) -> None:
    proj, cli = project
    args = ["deploy", "svc", "--model", "m", "--entry-script", "score.py", "--source-dir", "."]
    result = cli(*args, "--env", runtime_only_env, "-o", "json")
    try:
        assert result.code == 0, result.err
        apps = [p.parent for p in (proj / ".serving" / "endpoints").rglob("score.py")]
        assert apps, "no app folder with score.py under the endpoint folder"
        for app in apps:
            assert app.name == "proj"
            copied = {p.relative_to(app).as_posix() for p in app.rglob("*")}
            assert copied == {".amlignore", "alias.py", "helper.py", "score.py"}
            assert not (app / "alias.py").is_symlink()
            assert (app / "alias.py").read_text() == "X = 1\n"
        data = result.json()
        assert isinstance(data, dict)
        answer = requests.post(str(data["scoring_uri"]), json={"data": [1, 2]}, timeout=30)
        assert answer.status_code == 200 and answer.json() == {"sum": 3}
    finally:
        cli("endpoints", "delete", "svc")


def test_a_link_outside_the_source_dir_is_exit_2_before_anything_is_built(
    project: tuple[Path, Cli], runtime_only_env: Path, tmp_path: Path
) -> None:
    proj, cli = project
    outside = tmp_path / "credentials"
    outside.write_text("secret")
    (proj / "creds").symlink_to(outside)
    for target in ("local", "docker", "cluster", "kubernetes"):
        result = cli(
            *("deploy", "svc", "--model", "m", "--entry-script", "score.py", "--source-dir", "."),
            *("--env", runtime_only_env, "--target", target),
        )
        assert result.code == 2, (target, result.err)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        assert "'creds'" in lines[0] and str(outside) in lines[0], lines
    assert cli("endpoints", "list", "-o", "json").json() == []  # refused before recording
