"""Virtual environments for EnvSpecs: argv builders, interpreter lookup, real builds."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from serving.environments import EnvSpec, ensure_venv
from serving.environments.venv import (
    PTH_NAME,
    READY_MARKER,
    find_interpreter,
    pip_install_argv,
    runtime_path_entry,
    site_packages,
    venv_create_argv,
    venv_path,
    version_probe_argv,
)
from serving.errors import EnvironmentSpecError

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def _spec(*requirements: str, name: str = "test-env") -> EnvSpec:
    return EnvSpec(name=name, python=RUNNING, requirements=requirements, source_format="pip")


def test_pip_install_argv_splits_options_not_requirements(tmp_path: Path) -> None:
    argv = pip_install_argv(
        tmp_path / "venv",
        ['numpy==1.26.4; python_version >= "3.10"', "--editable /src/my pkg", "joblib"],
        ["--extra-index-url https://example.invalid/simple", "--pre"],
        index_url="https://mirror.invalid/simple",
    )
    assert argv[:5] == [
        str(tmp_path / "venv" / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
    ]
    options = argv.index("--extra-index-url")
    assert argv[options + 1] == "https://example.invalid/simple"
    assert argv.index("--index-url") > options  # the explicit index comes last and wins
    assert argv[argv.index("--index-url") + 1] == "https://mirror.invalid/simple"
    assert argv[-4:] == [
        'numpy==1.26.4; python_version >= "3.10"',
        "--editable",
        "/src/my pkg",
        "joblib",
    ]


def test_pip_install_argv_without_index(tmp_path: Path) -> None:
    argv = pip_install_argv(tmp_path, ["flask>=2.2"])
    assert "--index-url" not in argv
    assert argv[-1] == "flask>=2.2"


def test_other_argv_builders(tmp_path: Path) -> None:
    assert venv_create_argv("/usr/bin/python3.11", tmp_path) == [
        "/usr/bin/python3.11",
        "-m",
        "venv",
        str(tmp_path),
    ]
    assert version_probe_argv("python3")[:2] == ["python3", "-I"]


def test_paths_derive_from_the_hash(tmp_path: Path) -> None:
    spec = _spec("numpy")
    assert venv_path(spec, tmp_path) == tmp_path / spec.content_hash()[:16]
    assert site_packages(tmp_path, "3.11") == tmp_path / "lib" / "python3.11" / "site-packages"
    assert (runtime_path_entry() / "serving" / "errors.py").is_file()


def test_find_interpreter_accepts_the_running_one() -> None:
    assert find_interpreter(RUNNING, sys.executable) == sys.executable


def test_find_interpreter_names_what_it_tried(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentSpecError) as info:
        find_interpreter("2.9", str(tmp_path / "no-python"))
    message = info.value.message
    assert "no Python 2.9 interpreter found" in message
    assert f"{tmp_path / 'no-python'} (not runnable)" in message
    assert f"{sys.executable} ({RUNNING})" in message


@pytest.mark.slow
def test_ensure_venv_builds_once_then_reuses(tmp_path: Path) -> None:
    spec = _spec()
    envs = tmp_path / "envs"
    logs: tuple[list[str], list[str]] = ([], [])
    # Two concurrent builders of one environment: one builds, the other waits and reuses.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(ensure_venv, spec, envs, progress=log.append) for log in logs]
        venvs = {future.result() for future in futures}
    assert venvs == {venv_path(spec, envs)}
    venv = venvs.pop()
    built = [log for log in logs if any(line.startswith("creating environment") for line in log)]
    assert len(built) == 1
    assert any("flask" in line.lower() for line in built[0])
    waited = logs[0] if built[0] is logs[1] else logs[1]
    assert any(line.startswith("reusing environment") for line in waited)

    assert (venv / READY_MARKER).is_file()
    pth = site_packages(venv, spec.python) / PTH_NAME
    assert pth.read_text(encoding="utf-8").strip() == str(venv / "serving-runtime")
    # only the serving package is exposed, not what sits beside it (tests/, site-packages)
    hidden = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import tests.helpers"],
        capture_output=True,
        text=True,
        check=False,
        cwd=venv,
    )
    assert hidden.returncode != 0
    check = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import flask, gunicorn, inference_schema, prometheus_client, serving.errors",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr

    started = time.monotonic()
    again: list[str] = []
    assert ensure_venv(spec, envs, progress=again.append) == venv
    assert time.monotonic() - started < 1.0
    assert again == []


@pytest.mark.slow
def test_ensure_venv_failure_leaves_nothing(tmp_path: Path) -> None:
    spec = _spec("this-package-does-not-exist-xyz==1")
    envs = tmp_path / "envs"
    with pytest.raises(EnvironmentSpecError) as info:
        ensure_venv(spec, envs)
    assert "this-package-does-not-exist-xyz" in info.value.message
    assert spec.short_hash in info.value.message
    assert not venv_path(spec, envs).exists()
    assert [p.name for p in envs.iterdir()] == [f"{venv_path(spec, envs).name}.lock"]


@pytest.mark.slow
def test_incomplete_venv_is_rebuilt(tmp_path: Path) -> None:
    spec = _spec("this-package-does-not-exist-xyz==2")
    debris = venv_path(spec, tmp_path)
    debris.mkdir(parents=True)
    (debris / "half-written").write_text("x", encoding="utf-8")
    lines: list[str] = []
    with pytest.raises(EnvironmentSpecError):
        ensure_venv(spec, tmp_path, progress=lines.append)
    assert any(line.startswith("removing incomplete environment") for line in lines)
    assert not debris.exists()
