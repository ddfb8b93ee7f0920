"""Names, references and image tags are checked with a full match: no trailing newline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from serving.errors import UserInputError
from serving.registry.images import check_repository, parse_image_tag
from serving.registry.names import check_model_name, check_service_name, parse_ref
from serving.workspace import Workspace
from tests.helpers import CliResult


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\t"])
def test_trailing_whitespace_is_not_a_name(suffix: str) -> None:
    with pytest.raises(UserInputError):
        check_model_name("digits" + suffix)
    with pytest.raises(UserInputError):
        check_model_name("digits" + suffix, "environment")
    with pytest.raises(UserInputError):
        check_service_name("digits-svc" + suffix)
    with pytest.raises(UserInputError):
        parse_ref("digits" + suffix + ":1")
    with pytest.raises(UserInputError):
        check_repository("serving/digits" + suffix)
    with pytest.raises(UserInputError):
        parse_image_tag("serving/digits:v1" + suffix)


def test_valid_names_still_pass() -> None:
    assert check_model_name("digits-1.0_a") == "digits-1.0_a"
    assert check_service_name("digits-svc") == "digits-svc"
    assert parse_ref("digits:3").version == 3
    assert parse_image_tag("serving/digits:v1") == ("serving/digits", "v1")


def test_registries_refuse_newline_names(
    ws: Workspace, backing: Workspace, digits_model: Path
) -> None:
    with pytest.raises(UserInputError):
        ws.models.register(digits_model, "digits\n")
    with pytest.raises(UserInputError):
        ws.environments.register(
            "env\n", spec={}, content_hash="0" * 64, python="3.11", source_text="", source_name=""
        )
    with pytest.raises(UserInputError):
        backing.endpoints.create("svc-a\n", "local", {}, [], [])  # no endpoint writes on a server
    assert ws.models.list() == []


def test_scoring_layout_refuses_newline_model_names(tmp_path: Path) -> None:
    from serving.scoring.layout import ModelFiles, plan_layout

    model = ModelFiles(name="digits\n", version=1, path=tmp_path / "model.pkl")
    with pytest.raises(UserInputError):
        plan_layout(tmp_path, entry_script="score.py", source_dir_name=None, models=[model])


def test_cli_register_newline_name_is_one_line_error(
    cli: Callable[..., CliResult], digits_model: Path
) -> None:
    result = cli("models", "register", digits_model, "--name", "digits\n")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid model name 'digits\\n'")
