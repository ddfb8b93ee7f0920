"""Edge tests: fixture scripts, a scorer loaded in-process, the CLI with the `edge` group.

Docker tests share one workspace and one model image per script (built once a session on
the shared base image), and remove their containers and networks at the end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from serving.cli.edge import edge as edge_command
from serving.cli.main import cli as cli_group
from serving.cli.main import main
from serving.scoring import Scorer, load_entry_script
from tests.helpers import CliResult

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def scorer_for(script: str) -> Scorer:
    scorer = Scorer(load_entry_script(SCRIPTS, script))
    scorer.initialize()
    return scorer


@pytest.fixture()
def edge_cli(
    ws_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """The CLI in-process with the `edge` group registered (until serving.cli.main does)."""
    if "edge" not in cli_group.commands:
        cli_group.add_command(edge_command)
    monkeypatch.setenv("SERVING_WORKSPACE", str(ws_path))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
