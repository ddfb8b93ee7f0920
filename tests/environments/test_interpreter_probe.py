"""The interpreter probe program, called in-process and run by path as the base images
and venv candidates run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from serving.environments import interpreter_probe
from serving.environments.venv import version_probe_argv

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_facts_describe_this_interpreter() -> None:
    facts = interpreter_probe.facts()
    assert set(facts) == {"python", "glibc", "arch"}
    assert facts["python"] == RUNNING
    assert facts["arch"]


def test_main_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert interpreter_probe.main() == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [interpreter_probe.facts()]


def test_it_runs_by_path_without_the_platform(tmp_path: Path) -> None:
    """A copy elsewhere, with no site-packages (-S): only the standard library is there."""
    copy = tmp_path / "probe.py"
    shutil.copy(interpreter_probe.PROBE_FILE, copy)
    argv = interpreter_probe.probe_argv(sys.executable, str(copy))
    assert argv == [sys.executable, "-I", str(copy)]
    done = subprocess.run(
        [argv[0], "-S", *argv[1:]], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == interpreter_probe.facts()


def test_the_venv_probe_runs_the_file() -> None:
    argv = version_probe_argv("python3")
    assert argv == ["python3", "-I", str(interpreter_probe.PROBE_FILE)]
