"""The smoke check program (``python -m serving.scoring.smoke``), called in-process, and
once as the module the image runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving.images.dockerfile import ENV_PYTHON
from serving.images.smoke import smoke_argv
from serving.scoring import smoke
from tests.helpers import FIXTURES as SCRIPTS


def _env(script: str, app_root: Path = SCRIPTS) -> dict[str, str]:
    return {"AML_APP_ROOT": str(app_root), "AZUREML_ENTRY_SCRIPT": script}


def _report(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    report: dict[str, object] = json.loads(lines[0])
    return report


@pytest.mark.parametrize(
    ("script", "mode"),
    [("ok.py", "plain"), ("schema_decorated.py", "inference-schema"), ("raw_http.py", "rawhttp")],
)
def test_a_loading_script_reports_its_mode(
    capsys: pytest.CaptureFixture[str], script: str, mode: str
) -> None:
    assert smoke.main(_env(script)) == 0
    assert _report(capsys) == {"ok": True, "mode": mode}


def test_the_shims_are_importable(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(_env("azure_shims.py")) == 0
    assert _report(capsys)["ok"] is True
    for shim in smoke.SHIMS:
        assert shim in sys.modules


def test_a_syntax_error_carries_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(_env("syntax_error.py")) == 1
    report = _report(capsys)
    assert report["ok"] is False
    assert "syntax_error.py" in str(report["message"])
    assert "SyntaxError" in str(report["details"])


def test_a_missing_run_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(_env("missing_run.py")) == 1
    assert "run() function" in str(_report(capsys)["message"])


def test_exit_and_missing_modules_at_import_are_reported(tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(7)\n")
    (tmp_path / "needs.py").write_text("import no_such_module_here\n")
    exits = smoke.check(_env("exits.py", tmp_path))
    assert exits["ok"] is False and "SystemExit" in str(exits["details"])
    needs = smoke.check(_env("needs.py", tmp_path))
    assert needs["ok"] is False and "no_such_module_here" in str(needs["details"])


def test_missing_settings_are_reported_not_raised() -> None:
    report = smoke.failure(KeyError("AML_APP_ROOT"))
    assert report["ok"] is False and "AML_APP_ROOT" in str(report["message"])
    assert smoke.check({})["ok"] is False


def test_the_image_runs_it_as_a_module() -> None:
    assert smoke_argv() == [ENV_PYTHON, "-m", "serving.scoring.smoke"]
    done = subprocess.run(
        [sys.executable, *smoke_argv()[1:]],
        env={**os.environ, **_env("ok.py")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"ok": True, "mode": "plain"}
