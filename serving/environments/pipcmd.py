"""pip command lines and pip failures, shared by local venvs and image wheelhouses."""

from __future__ import annotations

from collections.abc import Sequence

from serving.errors import EnvironmentSpecError


def pip_argv(
    python: str,
    command: str,
    *args: str,
    pip_options: Sequence[str] = (),
    index_url: str | None = None,
) -> list[str]:
    """``python -m pip COMMAND``, quiet and non-interactive, then ``args``, then the
    environment's option lines (each split into option and value) and ``--index-url``
    after them, so it wins."""
    argv = [python, "-m", "pip", command, "--disable-pip-version-check", "--no-input"]
    argv += ["--progress-bar", "off", *args]
    for line in pip_options:
        argv += line.split(maxsplit=1)
    if index_url:
        argv += ["--index-url", index_url]
    return argv


def pip_failure(what: str, code: int, tail: Sequence[str]) -> EnvironmentSpecError:
    """The error for a pip run that exited with ``code``: pip's last ``ERROR:`` line (else
    its last line) after ``what``, and the end of its output as details."""
    errors = [line for line in tail if line.startswith("ERROR:")]
    detail = (errors or tail or [f"exit status {code}"])[-1].removeprefix("ERROR:").strip()
    return EnvironmentSpecError(
        f"{what}: {detail}",
        hint="check the requirement names and versions in the environment file",
        details="\n".join(tail[-15:]) or None,
    )
