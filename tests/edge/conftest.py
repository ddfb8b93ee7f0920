"""Edge tests: fixture scripts, a scorer loaded in-process, the CLI with the `edge` group.

Docker tests share one workspace and one model image per script (built once a session on
the shared base image), and remove their containers and networks at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.cli.edge import edge as edge_command
from serving.cli.main import cli as cli_group
from serving.cli.main import main
from serving.images.engine import find_image
from serving.scoring import Scorer, load_entry_script
from serving.workspace import Workspace
from tests.helpers import CliResult

if TYPE_CHECKING:
    from docker import DockerClient

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


@pytest.fixture(scope="session")
def edge_ws(
    tmp_path_factory: pytest.TempPathFactory,
    engine: DockerClient,
    base_image: str,
    digits_model: Path,
) -> Iterator[Workspace]:
    """One workspace for the Docker edge tests (model images are built once per script and
    reused), with the digits model and the tutorial's temperature model registered; its
    model images are removed at the end (base, runtime and environment images stay)."""
    from examples.edge.train import train

    ws = Workspace.open(tmp_path_factory.mktemp("edge-ws"), create=True)
    ws.models.register(digits_model, "digits")
    temperature = tmp_path_factory.mktemp("temperature") / "model.pkl"
    train(str(temperature))
    ws.models.register(temperature, "model.pkl")
    yield ws
    for record in ws.images.list():
        if find_image(engine, record.image_id) is not None:
            engine.images.remove(record.image_id, force=True)
