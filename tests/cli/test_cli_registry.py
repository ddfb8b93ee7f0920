"""The registry commands from the command line: output formats and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.workspace import Workspace
from tests.helpers import CliResult

Cli = Callable[..., CliResult]

ENV_YML = """\
name: digits-env
channels: [conda-forge]
dependencies:
  - python=3.11
  - scikit-learn>=1.3
  - pip:
    - azureml-defaults
    - joblib
"""


def one_line_error(result: CliResult, code: int, *needles: str) -> None:
    assert result.code == code, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_register_list_show_json(cli: Cli, digits_model: Path) -> None:
    r = cli("models", "register", digits_model, "--name", "digits", "--tag", "a=b")
    assert (r.code, r.out.strip()) == (0, "digits:1")
    r = cli("models", "register", digits_model, "-n", "digits", "-o", "json")
    assert r.code == 0 and r.json()["version"] == 2  # type: ignore[index]
    listed = cli("models", "list", "-o", "json").json()
    assert isinstance(listed, list)
    assert [m["id"] for m in listed] == ["digits:2", "digits:1"]
    assert set(listed[0]) >= {"name", "version", "framework", "tags", "files", "created_at"}
    table = cli("models", "list", "--latest")
    assert "digits:2" in table.out and "digits:1" not in table.out
    shown = cli("models", "show", "digits", "-o", "json").json()
    assert shown["id"] == "digits:2" and shown["framework"] == "sklearn"  # type: ignore[index]


def test_update_download_delete(cli: Cli, digits_model: Path, tmp_path: Path) -> None:
    cli("models", "register", digits_model, "--name", "digits")
    r = cli(
        "models", "update", "digits:1", "--tag", "stage=prod", "--description", "x", "-o", "json"
    )
    assert r.json()["tags"] == {"stage": "prod"}  # type: ignore[index]
    r = cli("models", "download", "digits:1", tmp_path / "dl")
    assert r.code == 0 and (tmp_path / "dl" / "model.pkl").is_file()
    assert cli("models", "delete", "digits:1").code == 0
    assert cli("models", "list", "-o", "json").json() == []


def test_envs_commands(cli: Cli, tmp_path: Path) -> None:
    env = tmp_path / "env.yml"
    env.write_text(ENV_YML)
    r = cli("envs", "register", "-f", env)
    assert r.code == 0 and r.out.strip() == "digits-env:1"
    assert "azureml-defaults" in r.err  # the replacement notice
    again = cli("envs", "register", "-f", env, "-o", "json").json()
    assert again["version"] == 1 and again["created"] is False  # type: ignore[index]
    shown = cli("envs", "show", "digits-env", "-o", "json").json()
    assert shown["python"] == "3.11"  # type: ignore[index]
    assert not any("azureml" in r for r in shown["requirements"])  # type: ignore[index]
    assert [e["id"] for e in cli("envs", "list", "-o", "json").json()] == ["digits-env:1"]  # type: ignore[index, union-attr]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("models", "register", "/no/such/file", "--name", "m"), 2, "does not exist"),
        (("models", "register", "{model}", "--name", "bad name!"), 2, "invalid model name"),
        (("models", "register", "{empty}", "--name", "m"), 2, "empty"),
        (("models", "register", "{model}"), 2, "--name"),
        (("models", "register", "{model}", "--name", "m", "--tag", "=v"), 2, "KEY=VALUE"),
        (("models", "register", "{model}", "--name", "m", "--framework", "x"), 2, "framework"),
        (("models", "show", "missing"), 3, "not found"),
        (("models", "show", "m:abc"), 2, "positive integer"),
        (("models", "download", "missing:1", "{tmp}"), 3, "not found"),
        (("models", "update", "missing:1", "--tag", "a=b"), 3, "not found"),
        (("models", "delete", "missing:1"), 3, "not found"),
        (("models", "delete", "m"), 2, "NAME:VERSION"),
        (("models", "list", "-o", "yaml"), 2, "yaml"),
        (("models", "list", "--tag", "=v"), 2, "invalid tag filter '=v'"),
        (("envs", "register", "-f", "/no/env.yml"), 3, "does not exist"),
        (("envs", "register", "-f", "{badyaml}"), 2, "line"),
        (("envs", "show", "nope"), 3, "not found"),
        (("nosuchcommand",), 2, "nosuchcommand"),
    ],
)
def test_bad_input_is_one_line(
    cli: Cli, tmp_path: Path, args: tuple[str, ...], code: int, needle: str, digits_model: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\ndependencies:\n  - numpy\n   - broken: [\n")
    subs = {
        "{model}": str(digits_model),
        "{empty}": str(empty),
        "{tmp}": str(tmp_path / "o"),
        "{badyaml}": str(bad),
    }
    one_line_error(cli(*(subs.get(a, a) for a in args)), code, needle)


def test_delete_in_use_needs_force(cli: Cli, backing: Workspace, digits_model: Path) -> None:
    cli("models", "register", digits_model, "--name", "digits")
    # endpoints are recorded where the workspace folder is (a server does not deploy)
    backing.endpoints.create("digits-svc", "local", {}, [], [backing.models.list()[0].id])
    one_line_error(cli("models", "delete", "digits:1"), 4, "digits-svc")
    assert cli("models", "delete", "digits:1", "--force").code == 0


@pytest.mark.folder_only  # creates and finds workspace folders
def test_workspace_create_show(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVING_WORKSPACE")
    r = cli("workspace", "create", tmp_path / "proj", "--name", "proj", "-o", "json")
    assert r.code == 0 and r.json()["path"] == str(tmp_path / "proj" / ".serving")  # type: ignore[index]
    monkeypatch.chdir(tmp_path / "proj")
    (tmp_path / "proj" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "proj" / "sub")
    shown = json.loads(cli("workspace", "show", "-o", "json").out)
    assert shown["name"] == "proj"  # found by walking up
    shown = json.loads(
        cli("--workspace", tmp_path / "other", "workspace", "show", "-o", "json").out
    )
    assert shown["path"] == str(tmp_path / "other")
