"""Auth on ``--target kubernetes`` is on by default (as on AKS), ``--no-auth`` turns it off,
and the manifests' environment says which with ``SERVING_AUTH`` (real image builds)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.helpers import FIXTURES, CliResult

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]
OK = FIXTURES / "ok.py"


def _env(folder: Path) -> dict[str, str]:
    deployment = yaml.safe_load((folder / "02-deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_k8s_auth_default_on_and_no_auth_marks_the_endpoint_keyless(
    cli: Callable[..., CliResult],
    engine: DockerClient,
    base_image: str,
    small_tree: Path,
    tmp_path: Path,
) -> None:
    env = tmp_path / "requirements.txt"
    env.write_text("# nothing beyond the serving runtime\n")
    assert cli("models", "register", small_tree, "--name", "m").code == 0
    common = ("deploy", "k8s-auth", "-m", "m", "--entry-script", OK, "--env", env,
              "--target", "kubernetes", "-o", "json")  # fmt: skip
    try:
        keyed = cli(*common, "--output", tmp_path / "keyed")
        assert keyed.code == 0, keyed.err
        data = keyed.json()
        assert isinstance(data, dict) and len(data["keys"]) == 2
        assert _env(tmp_path / "keyed")["SERVING_AUTH"] == "key"
        open_ = cli(*common, "--output", tmp_path / "open", "--no-auth")
        assert open_.code == 0, open_.err
        assert open_.json()["keys"] == []  # type: ignore[index]
        assert _env(tmp_path / "open")["SERVING_AUTH"] == "none"
        secret = yaml.safe_load((tmp_path / "open" / "01-secret.yaml").read_text())
        assert secret["stringData"]["keys"] == ""
    finally:
        for image in engine.images.list():
            if any("serving/k8s-auth" in tag for tag in image.tags):
                engine.images.remove(image.id, force=True)
