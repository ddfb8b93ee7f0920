"""Helpers shared by tests (import as ``tests.helpers``): paths, the CLI result, and deploying
the scikit-learn digits template on any target."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from http.server import HTTPServer

    from docker import DockerClient

ROOT = Path(__file__).resolve().parent.parent
SKLEARN = ROOT / "scoring_templates" / "sklearn"
"""The scikit-learn template: score.py, env.yml, train.py, sample-request.json."""
SAMPLE = SKLEARN / "sample-request.json"
FIXTURES = ROOT / "tests" / "fixtures" / "scripts"
"""One-behaviour entry scripts."""
DIGITS_ARGS = (
    "--model", "digits:1", "--entry-script", SKLEARN / "score.py", "--env", SKLEARN / "env.yml",
)  # fmt: skip
"""What ``deploy`` and ``images build`` take for the digits template (model digits:1)."""
DOCKER_TIMEOUT = 900
"""Seconds for a docker test, fixtures included: the first one may bootstrap and build."""


@contextmanager
def serve_in_thread(server: HTTPServer) -> Iterator[str]:
    """Run ``server`` (bound to 127.0.0.1) in a daemon thread; yields its base URL, then
    shuts it down and closes its socket."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


Cli = Callable[..., CliResult]


def cli_env(ws_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SERVING_WORKSPACE"] = str(ws_path)
    return env


def serving_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "serving", *args]


def run_cli(
    ws_path: Path, *args: object, env: dict[str, str] | None = None, timeout: float = 600
) -> CliResult:
    """Run the CLI as a subprocess on ``ws_path`` (for fixtures wider than one test)."""
    done = subprocess.run(
        serving_cmd(*(str(a) for a in args)),
        env={**cli_env(ws_path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def deploy_digits(
    cli: Cli,
    target: str,
    *extra: object,
    name: str = "digits-svc",
    model: Path | None = None,
) -> dict[str, object]:
    """Deploy the digits template (score.py, env.yml) as ``name`` on ``target`` with the CLI;
    registers ``model`` as ``digits`` first when given. Returns the endpoint's JSON."""
    if model is not None:
        assert cli("models", "register", model, "--name", "digits").code == 0
    result = cli("deploy", name, *DIGITS_ARGS, "--target", target, "-o", "json", *extra)
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict) and data["target"] == target
    return data


def write_source_project(proj: Path, score: Path) -> None:
    """The files of a ``--source-dir .`` project in ``proj``: ``score`` as score.py,
    helper.py, a link to it (alias.py) and a folder (scratch/) that .amlignore leaves out."""
    shutil.copy(score, proj / "score.py")
    (proj / "helper.py").write_text("X = 1\n")
    (proj / "alias.py").symlink_to("helper.py")
    (proj / "scratch").mkdir()
    (proj / "scratch" / "notes.txt").write_text("n")
    (proj / ".amlignore").write_text("scratch/\n")


def remove_workspace_debris(client: DockerClient, workspace: Path, prefix: str) -> None:
    """Containers and networks labelled with ``workspace``, and model images named
    ``serving/<prefix>...`` (what a test module made)."""
    label = f"serving.workspace={workspace.resolve()}"
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": label}):
        network.remove()
    for image in client.images.list():
        if any(tag.startswith(f"serving/{prefix}") for tag in image.tags):
            client.images.remove(image.id, force=True)
