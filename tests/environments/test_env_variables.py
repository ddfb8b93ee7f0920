"""``variables:`` of conda env files: names must be identifiers, values reach targets intact."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.catalog import spec_of
from serving.environments import EnvSpec, parse_conda_text
from serving.errors import EnvironmentSpecError
from serving.images.dockerfile import environment_stages
from serving.registry import Ref
from serving.sdk import Environment
from serving.workspace import Workspace
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


def test_specs_built_directly_are_checked_too() -> None:
    with pytest.raises(EnvironmentSpecError, match="'A B'") as info:
        EnvSpec(name="e", python="3.11", variables=(("A B", "x"),))
    assert "\n" not in info.value.one_line()
    with pytest.raises(EnvironmentSpecError, match="'X=1'"):
        EnvSpec.from_dict({"name": "e", "python": "3.11", "variables": {"X=1": "y"}}, trusted=False)


def test_stored_records_load_whatever_their_variable_names() -> None:
    """A record written when a name was still accepted must not break what loads it."""
    data = {"name": "e", "python": "3.11", "variables": {"X=1": "y", "OK": "z"}}
    spec = EnvSpec.from_dict(data)
    assert spec.variables == (("OK", "z"), ("X=1", "y"))
    assert EnvSpec.from_dict(spec.to_dict()) == spec


def _store_old_record(ws: Workspace) -> None:
    """An environment row as a version that accepted any variable name wrote it."""
    spec = parse_conda_text(_env("  OK: z\n"), "env.yml").to_dict()
    spec["variables"] = {"OK": "z", "A-B": "x"}
    ws.environments.register(
        "old",
        spec=spec,
        content_hash="0" * 64,
        python="3.11",
        source_text=_env("  OK: z\n  A-B: x\n"),
        source_name="env.yml",
    )


def test_a_stored_bad_variable_name_still_lists_and_loads(
    ws: Workspace, cli: Callable[..., CliResult]
) -> None:
    _store_old_record(ws)
    assert Environment.get(ws, "old").environment_variables == {"OK": "z", "A-B": "x"}
    registered = [n for n in Environment.list(ws) if not n.startswith("AzureML-")]
    assert registered == ["old"]  # beside the curated names, as in v1
    record = ws.environments.get(Ref("old"))
    assert dict(spec_of(record).variables) == {"OK": "z", "A-B": "x"}
    for args in (("envs", "list"), ("envs", "show", "old")):
        result = cli(*args)
        assert result.code == 0, result.err
        assert "old" in result.out


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


def test_an_endpoint_recorded_with_a_bad_variable_name_still_loads(
    ws: Workspace, tmp_path: Path
) -> None:
    """``endpoints update`` rebuilds the recorded request before applying a change."""
    from serving.deploy.inputs import request_of

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    model = ws.models.register(weights, "m")
    env = {"name": "e", "python": "3.11", "variables": {"A-B": "x"}}
    spec = {"models": ["m:1"], "entry_script": "score.py", "env": env}
    record = ws.endpoints.create("svc", "local", spec, [], [model.id])
    assert dict(request_of(ws, record).env.variables) == {"A-B": "x"}
