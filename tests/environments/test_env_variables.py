"""``variables:`` of conda env files: names must be identifiers, values reach targets intact."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.environments import EnvSpec, parse_conda_text
from serving.errors import EnvironmentSpecError
from serving.images.dockerfile import environment_stages
from tests.helpers import CliResult

BAD_NAMES = ["A B", "1A", "A-B", "A=B", "A\nB", "$(id)", "A;rm", "Ä", "", "A.B"]
TRICKY_VALUES = [
    'say "hi"',
    "$HOME and ${PATH}",
    "back\\slash\\",
    "a\tb",
    "`id`; rm -rf /",
    "two\nlines",
]
NAMES = ["_A", "b2", "C_3", "lower", "X", "Y"]


def _env(variables: str) -> str:
    return "dependencies:\n  - python=3.11\n  - numpy\nvariables:\n" + variables


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_variable_name_is_named_in_one_line(name: str) -> None:
    text = _env(f"  {json_key(name)}: x\n")
    with pytest.raises(EnvironmentSpecError) as info:
        parse_conda_text(text, "env.yml")
    assert repr(name) in info.value.one_line()
    assert "\n" not in info.value.one_line()


def json_key(name: str) -> str:
    """A YAML double-quoted scalar (YAML accepts JSON string syntax)."""
    return json.dumps(name)


def test_trailing_newline_name_is_refused() -> None:
    with pytest.raises(EnvironmentSpecError, match="'A\\\\n'"):
        parse_conda_text(_env('  "A\\n": x\n'), "env.yml")


def test_non_string_key_and_nul_value_are_refused() -> None:
    with pytest.raises(EnvironmentSpecError, match="invalid variable name 12"):
        parse_conda_text(_env("  12: x\n"), "env.yml")
    with pytest.raises(EnvironmentSpecError, match="NUL"):
        parse_conda_text(_env('  A: "x\\0y"\n'), "env.yml")


def test_specs_built_directly_or_from_records_are_checked_too() -> None:
    with pytest.raises(EnvironmentSpecError, match="'A B'"):
        EnvSpec(name="e", python="3.11", variables=(("A B", "x"),))
    with pytest.raises(EnvironmentSpecError, match="'X=1'"):
        EnvSpec.from_dict({"name": "e", "python": "3.11", "variables": {"X=1": "y"}})


def test_good_names_and_tricky_values_are_kept_verbatim() -> None:
    body = "".join(
        f"  {name}: {json_key(value)}\n" for name, value in zip(NAMES, TRICKY_VALUES, strict=True)
    )
    spec = parse_conda_text(_env(body), "env.yml")
    assert dict(spec.variables) == dict(zip(NAMES, TRICKY_VALUES, strict=True))


def test_dockerfile_env_lines_quote_every_value() -> None:
    """Each value is one double-quoted word: no unescaped quote, ``$`` or line break."""
    variables = tuple(sorted(zip(NAMES, TRICKY_VALUES, strict=True)))
    text = environment_stages("base", EnvSpec(name="e", python="3.11", variables=variables))
    env_block = text.split("\nENV ", 1)[1].split("\nLABEL", 1)[0]
    lines = [line.strip().rstrip("\\").strip() for line in env_block.splitlines()]
    words = dict(line.partition("=")[::2] for line in lines)
    assert set(words) == {name for name, _ in variables} | {"PATH"}, lines
    for line, word in words.items():
        assert word.startswith('"') and word.endswith('"'), line
        unescaped = word[1:-1].replace("\\\\", "").replace('\\"', "").replace("\\$", "")
        assert '"' not in unescaped and "$" not in unescaped, line


def test_cli_register_bad_variable_is_one_line_error(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    env_file = tmp_path / "env.yml"
    env_file.write_text(_env('  "BAD NAME": x\n'))
    result = cli("envs", "register", "-f", env_file, "--name", "e")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "'BAD NAME'" in lines[0]
