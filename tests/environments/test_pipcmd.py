"""pip command lines and failures shared by venvs and wheelhouses (serving.environments.pipcmd)."""

from __future__ import annotations

from serving.environments.pipcmd import pip_argv, pip_failure
from serving.errors import EnvironmentSpecError


def test_pip_argv_puts_args_before_options_and_the_index_last() -> None:
    argv = pip_argv(
        "py",
        "download",
        "--only-binary=:all:",
        pip_options=["--extra-index-url https://x.example/simple", "--pre"],
        index_url="https://idx.example/simple",
    )
    assert argv[:4] == ["py", "-m", "pip", "download"]
    assert argv.index("--only-binary=:all:") < argv.index("--extra-index-url")
    assert argv[-4:] == [
        "https://x.example/simple",
        "--pre",
        "--index-url",
        "https://idx.example/simple",
    ]
    assert "--index-url" not in pip_argv("py", "wheel")


def test_pip_failure_names_the_last_error_line_and_keeps_the_tail() -> None:
    tail = ["Collecting nope", "ERROR: first", "noise", "ERROR: No matching distribution"]
    error = pip_failure("pip could not install env", 1, tail)
    assert isinstance(error, EnvironmentSpecError)
    assert error.message == "pip could not install env: No matching distribution"
    assert error.details == "\n".join(tail)
    assert error.hint is not None and "requirement names" in error.hint


def test_pip_failure_without_output_names_the_exit_status() -> None:
    error = pip_failure("could not create a venv", 3, [])
    assert error.message == "could not create a venv: exit status 3"
    assert error.details is None
