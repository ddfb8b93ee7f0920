"""EnvSpec: hashing rules and serialisation."""

from __future__ import annotations

import json

import pytest

from serving.environments import EnvSpec, runtime_requirements
from serving.environments.runtime import RUNTIME_REQUIREMENTS
from serving.errors import EnvironmentSpecError

SPEC = EnvSpec(
    name="demo",
    python="3.11",
    requirements=("joblib", "numpy==1.26.*"),
    pip_options=("--extra-index-url https://example.invalid/simple",),
    variables=(("A", "1"),),
    channels=("conda-forge",),
    replaced=("azureml-defaults",),
    notices=("azureml-defaults is replaced by the serving runtime (not installed)",),
)


def test_hash_ignores_descriptive_fields() -> None:
    other = EnvSpec(
        name="other",
        python="3.11",
        requirements=SPEC.requirements,
        pip_options=SPEC.pip_options,
        variables=SPEC.variables,
        source_format="pip",
    )
    assert other.content_hash() == SPEC.content_hash()


@pytest.mark.parametrize(
    "changes",
    [
        {"python": "3.12"},
        {"requirements": ["joblib"]},
        {"pip_options": []},
        {"variables": {"A": "2"}},
    ],
)
def test_hash_covers_what_builds_the_environment(changes: dict[str, object]) -> None:
    data = SPEC.to_dict() | changes
    assert EnvSpec.from_dict(data).content_hash() != SPEC.content_hash()


def test_round_trip_through_json() -> None:
    text = json.dumps(SPEC.to_dict())
    assert EnvSpec.from_dict(json.loads(text)) == SPEC
    assert len(SPEC.short_hash) == 12


@pytest.mark.parametrize(
    "data",
    [
        {"python": "3.11"},
        {"name": "x", "python": 3.11},
        {"name": "x", "python": "3.11", "requirements": "numpy"},
        {"name": "x", "python": "3.11", "variables": ["A"]},
        {"name": "x", "python": "3.11", "source_format": "docker"},
    ],
)
def test_from_dict_rejects_bad_data(data: dict[str, object]) -> None:
    with pytest.raises(EnvironmentSpecError, match="invalid stored environment spec"):
        EnvSpec.from_dict(data)


def test_runtime_requirements_are_a_copy() -> None:
    runtime = runtime_requirements()
    assert tuple(runtime) == RUNTIME_REQUIREMENTS
    runtime.append("something")
    assert tuple(runtime_requirements()) == RUNTIME_REQUIREMENTS
