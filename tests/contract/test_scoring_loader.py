"""Loading entry scripts: module name, sys.path, contract checks, input mode detection."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from serving.scoring import InputMode, ScriptLoadError, install_compat_path, load_entry_script


@pytest.fixture(autouse=True)
def _compat() -> None:
    install_compat_path()


@pytest.mark.parametrize(
    ("script", "mode"),
    [
        ("ok.py", InputMode.PLAIN),
        ("schema_decorated.py", InputMode.SCHEMA),
        ("raw_http.py", InputMode.RAWHTTP),
        ("ok.py", InputMode.PLAIN),  # after rawhttp: the process-global flag was reset
    ],
)
def test_input_mode_is_detected(scripts_dir: Path, script: str, mode: InputMode) -> None:
    loaded = load_entry_script(scripts_dir, script)
    assert loaded.mode is mode
    assert loaded.path == scripts_dir / script
    assert sys.modules["entry_module"] is loaded.module
    assert str(scripts_dir) in sys.path


def test_schema_registry_of_a_previous_script_is_forgotten(scripts_dir: Path) -> None:
    assert load_entry_script(scripts_dir, "schema_decorated.py").mode is InputMode.SCHEMA
    assert load_entry_script(scripts_dir, "ok.py").mode is InputMode.PLAIN


def test_request_headers_parameter_is_detected(scripts_dir: Path) -> None:
    loaded = load_entry_script(scripts_dir, "request_headers.py")
    assert loaded.wants_headers
    assert [p.name for p in loaded.input_params] == ["data"]


def test_schema_parameters_in_order(scripts_dir: Path) -> None:
    loaded = load_entry_script(scripts_dir, "schema_decorated.py")
    assert [p.name for p in loaded.input_params] == ["data", "factor"]
    assert not loaded.wants_headers


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("missing_run.py", "does not define a module-level run() function"),
        ("syntax_error.py", "Importing entry script"),
        ("varargs_run.py", "run() cannot accept positional-only arguments, *args or **kwargs"),
        ("rawhttp_with_schema.py", "both @rawhttp and @input_schema"),
        ("no_such_script.py", "does not exist"),
    ],
)
def test_bad_scripts_fail_with_a_precise_message(
    scripts_dir: Path, script: str, expected: str
) -> None:
    with pytest.raises(ScriptLoadError) as info:
        load_entry_script(scripts_dir, script)
    assert expected in info.value.message
    if script != "no_such_script.py":
        assert script in info.value.message


def test_syntax_error_is_chained(scripts_dir: Path) -> None:
    with pytest.raises(ScriptLoadError) as info:
        load_entry_script(scripts_dir, "syntax_error.py")
    assert isinstance(info.value.__cause__, SyntaxError)
    assert "entry_module" not in sys.modules


def test_missing_init_is_named(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text("def run(data):\n    return data\n")
    with pytest.raises(ScriptLoadError, match=r"does not define a module-level init\(\)"):
        load_entry_script(tmp_path, "score.py")


def test_run_needs_an_input_parameter(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(
        "def init():\n    pass\n\ndef run(request_headers):\n    return 1\n"
    )
    with pytest.raises(ScriptLoadError, match="besides request_headers"):
        load_entry_script(tmp_path, "score.py")


def test_script_in_a_source_folder_imports_its_helpers(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "helper_mod_xyz.py").write_text("VALUE = 41\n")
    (src / "score.py").write_text(
        "import helper_mod_xyz\n\ndef init():\n    pass\n\n"
        "def run(data):\n    return helper_mod_xyz.VALUE + 1\n"
    )
    loaded = load_entry_script(tmp_path, "src/score.py")
    assert loaded.run(data="") == 42
    assert sys.path.index(str(src)) < sys.path.index(str(tmp_path))


def test_driver_module_run_is_used_with_the_drivers_init(tmp_path: Path) -> None:
    (tmp_path / "real_score_mod_xyz.py").write_text("def run(data):\n    return 'real'\n")
    (tmp_path / "main.py").write_text(
        "import real_score_mod_xyz as driver_module\n"
        "calls = []\n\ndef init():\n    calls.append('driver init')\n\n"
        "def run(data):\n    return 'driver'\n"
    )
    loaded = load_entry_script(tmp_path, "main.py")
    assert loaded.run(data="") == "real"
    loaded.init()
    assert loaded.module.calls == ["driver init"]
