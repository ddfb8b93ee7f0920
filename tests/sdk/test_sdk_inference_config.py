"""``InferenceConfig``'s legacy v1 arguments: runtime, conda_file relative to the source
directory, and the image-only options that warn."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.errors import UserInputError
from serving.images.dockerfile import environment_stages
from serving.sdk import Environment, InferenceConfig


def test_legacy_runtime_and_conda_file(tmp_path: Path) -> None:
    (tmp_path / "env.yml").write_text("dependencies:\n  - python=3.11\n")
    config = InferenceConfig(
        entry_script="score.py", runtime="python", conda_file="env.yml",
        source_directory=str(tmp_path),
    )  # fmt: skip
    assert config.env_value() == str(tmp_path / "env.yml")
    assert config.script() == Path("score.py")


def test_other_runtimes_do_not_exist_here() -> None:
    with pytest.raises(UserInputError, match="only the python runtime"):
        InferenceConfig(entry_script="score.py", runtime="spark-py")


def test_image_only_options_warn_naming_them(tmp_path: Path) -> None:
    (tmp_path / "steps.txt").write_text("# extra steps\nRUN echo one \\\n    two\nENV MODE=fast\n")
    with pytest.warns(UserWarning, match="enable_gpu have no effect") as record:
        config = InferenceConfig(
            entry_script="score.py", extra_docker_file_steps="steps.txt", base_image="img",
            environment=Environment("e"), source_directory=tmp_path, enable_gpu=True,
        )  # fmt: skip
    assert len(record) == 1 and "base_image" not in str(record[0].message)
    spec = config.env_value()
    assert spec.base_image == "img"  # honoured: the environment's base image
    assert spec.docker_steps == ("RUN echo one two", "ENV MODE=fast")  # honoured: build steps


def test_extra_steps_that_cannot_run_here_are_refused(tmp_path: Path) -> None:
    (tmp_path / "steps.txt").write_text("COPY secret.txt /secret\n")
    config = InferenceConfig(
        entry_script="score.py", extra_docker_file_steps=tmp_path / "steps.txt",
        environment=Environment("e"),
    )  # fmt: skip
    with pytest.raises(UserInputError, match=r"COPY secret\.txt /secret.*cannot be an extra"):
        config.env_value()


def test_base_dockerfile_gives_base_image_and_steps() -> None:
    env = Environment("e")
    env.docker.base_dockerfile = "FROM example.local/py:3.11\nRUN echo ready > /opt/ready\n"
    assert env.spec.base_image == "example.local/py:3.11"
    assert env.spec.docker_steps == ("RUN echo ready > /opt/ready",)
    text = environment_stages("flavour", env.spec)
    assert "USER root\nRUN echo ready > /opt/ready\nUSER 10001\n" in text


def test_environment_wins_over_conda_file_with_a_warning() -> None:
    with pytest.warns(UserWarning, match=r"conda_file \(environment= is used\)"):
        config = InferenceConfig(
            entry_script="score.py", conda_file="env.yml", environment=Environment("e")
        )
    assert config.env_value().requirements == ()


def test_no_entry_script_names_what_is_missing() -> None:
    with pytest.raises(UserInputError, match="no-code deployment"):
        InferenceConfig(environment=Environment("e")).script()
