"""User text in CLI output is plain text: no rich markup, no terminal control characters."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from serving.cli.common import plain, sanitize
from tests.helpers import cli_env, serving_cmd

HOSTILE = "[/x] [bold]loud[/bold] \x1b[31mred\x1b[2J bell\x07 back\rover \u202eevil"


def _run(ws_path: Path, *args: str, tty: bool = False) -> subprocess.CompletedProcess[str]:
    env = cli_env(ws_path)
    env["COLUMNS"] = "300"
    env.pop("NO_COLOR", None)
    if tty:
        env["FORCE_COLOR"] = "1"  # rich writes as to a terminal (styles on)
    else:
        env.pop("FORCE_COLOR", None)
    return subprocess.run(
        serving_cmd(*args), env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_sanitize_escapes_controls_and_keeps_text() -> None:
    assert sanitize("a\x1b[31mb\x07c\rd\x00e\x7f\x9b") == "a\\x1b[31mb\\x07c\\x0dd\\x00e\\x7f\\x9b"
    assert sanitize("tab\tand\nnewline stay") == "tab\tand\nnewline stay"
    assert sanitize("\u202eabc\u2066") == "\\u202eabc\\u2066"
    assert plain("[bold]x[/]").plain == "[bold]x[/]"  # a Text: never parsed as markup


@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "terminal"])
def test_hostile_description_and_tag_print_harmlessly(
    ws_path: Path, digits_model: Path, tty: bool
) -> None:
    r = _run(
        ws_path,
        "models", "register", str(digits_model), "--name", "digits",
        "--description", HOSTILE, "--tag", f"note={HOSTILE}", "--tag", "[red]k[/red]=v",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for args in (("models", "show", "digits"), ("models", "list")):
        shown = _run(ws_path, *args, tty=tty)
        assert shown.returncode == 0, shown.stderr
        text = shown.stdout
        assert "Traceback" not in shown.stderr
        for raw in ("\x1b[31m", "\x1b[2J", "\x07", "\r", "\u202e"):
            assert raw not in text, (raw, text)
        assert "\\x1b[31mred\\x1b[2J" in text
        assert "bell\\x07 back\\x0dover \\u202eevil" in text
        assert "[/x] [bold]loud[/bold]" in text
        assert "[red]k[/red]=v" in text
    assert "\x1b" not in _run(ws_path, "models", "show", "digits").stdout  # a pipe: no styles


def test_hostile_text_in_errors_is_escaped(ws_path: Path) -> None:
    r = _run(ws_path, "models", "download", "digits:1", "/nonexistent\x1b[2J[/x]")
    assert r.returncode != 0
    assert "\x1b" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _run(ws_path, "models", "register", "/missing\x1b[2J[/x]\x07", "--name", "m")
    assert r.returncode == 2
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr
    assert "\\x1b[2J[/x]\\x07" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_notices_keep_their_style_but_not_user_markup(ws_path: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "env.yml"
    env_file.write_text("dependencies:\n  - python=3.11\n  - pytorch\n")
    r = _run(ws_path, "envs", "register", "-f", str(env_file), "-n", "e", tty=True)
    assert r.returncode == 0, r.stderr
    assert "\x1b[33mnotice:\x1b[0m conda package pytorch is installed as torch" in r.stderr
