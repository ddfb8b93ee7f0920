"""The workspace never goes into an image: ``--source-dir .`` in a project holding its
``.serving`` workspace, in the build context (``serving images build`` and ``package`` both
write it with :func:`write_app_context`) and in a real image's file system."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.cli.main import main
from serving.images import BuildRequest, ImageBuilder
from serving.images.context import APP_FOLDER, write_app_context
from serving.images.dockerfile import APP_ROOT, ENV_PYTHON
from serving.images.engine import run_once
from serving.workspace import Workspace
from tests.helpers import DOCKER_TIMEOUT, SKLEARN, write_source_project
from tests.images.conftest import Digits

if TYPE_CHECKING:
    from docker import DockerClient

EXPECTED = {"proj", "proj/.amlignore", "proj/helper.py", "proj/alias.py", "proj/score.py"}


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project (the current folder) whose workspace was made by ``serving workspace
    create``, with the scikit-learn score.py, a link inside and an ignored folder."""
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.delenv("SERVING_WORKSPACE", raising=False)
    monkeypatch.chdir(proj)
    assert main(["workspace", "create"]) == 0
    assert (proj / ".serving" / "workspace.db").is_file()
    write_source_project(proj, SKLEARN / "score.py")
    return proj


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_build_context_leaves_the_workspace_out(project: Path, tmp_path: Path) -> None:
    ws = Workspace.open(project / ".serving")
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    record = ws.models.register(model, "m")
    first = write_app_context(ws, tmp_path / "ctx1", [record], project / "score.py", project)
    assert _tree(tmp_path / "ctx1" / APP_FOLDER) == EXPECTED
    assert not (tmp_path / "ctx1" / APP_FOLDER / "proj" / "alias.py").is_symlink()
    assert first.env["AZUREML_ENTRY_SCRIPT"] == "proj/score.py"
    ws.models.register(model, "m")  # the workspace changes; the code layer's digest does not
    second = write_app_context(ws, tmp_path / "ctx2", [record], project / "score.py", project)
    assert second.app_sha256 == first.app_sha256


@pytest.mark.docker
@pytest.mark.timeout(DOCKER_TIMEOUT)
def test_built_image_holds_no_workspace(
    digits: Digits, engine: DockerClient, project: Path
) -> None:
    ws = Workspace.open(project / ".serving")
    record = ws.models.register(digits.model, "digits")
    request = BuildRequest(
        (record,), project / "score.py", project, digits.env, name="test-pkg/srcdir", label="1"
    )
    built = ImageBuilder(ws).build(request, lambda line: None)
    listing = run_once(
        engine,
        built.record.image_id,
        [
            ENV_PYTHON,
            "-c",
            "import os, sys\n"
            "for d, dirs, files in os.walk(sys.argv[1]):\n"
            "    for n in dirs + files: print(os.path.relpath(os.path.join(d, n), sys.argv[1]))",
            APP_ROOT,
        ],
    )
    assert listing.exit_code == 0, listing.output
    found = set(listing.output.split())
    assert {p for p in found if not p.startswith("azureml-models")} == EXPECTED, found
    assert "azureml-models/digits/1/model.pkl" in found
