"""Conda env.yml parsing: match specs, name mapping, Azure packages, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.config import SUPPORTED_PYTHONS
from serving.environments import EnvSpec, parse_conda_file, parse_conda_text
from serving.errors import EnvironmentSpecError

AZURE_ENV = """\
name: project_environment
channels:
  - conda-forge
dependencies:
  - python={python}
  - scikit-learn=1.3
  - numpy
  - pip
  - pip:
    - azureml-defaults
    - inference-schema[numpy-support]
    - joblib
"""


def _deps(*lines: str) -> str:
    """A dependencies: list; lines starting with two spaces nest under the one before."""
    return "dependencies:\n" + "".join(
        f"  {line}\n" if line.startswith("  ") else f"  - {line}\n" for line in lines
    )


def _requirements(*conda_specs: str) -> tuple[str, ...]:
    spec = parse_conda_text(_deps("python=3.11", *conda_specs))
    return spec.requirements


def test_azure_style_file(tmp_path: Path) -> None:
    path = tmp_path / "myenv.yml"
    path.write_text(AZURE_ENV.format(python="3.11"), encoding="utf-8")
    spec = parse_conda_file(path)
    assert spec.name == "project_environment"
    assert spec.python == "3.11"
    assert spec.channels == ("conda-forge",)
    assert spec.requirements == (
        "inference-schema[numpy-support]",
        "joblib",
        "numpy",
        "scikit-learn==1.3.*",
    )
    assert spec.replaced == ("azureml-defaults",)
    assert "azureml-defaults is replaced by the serving runtime (not installed)" in spec.notices
    assert spec.source_format == "conda"
    assert spec.pip_options == ()


def test_azure_style_file_with_unsupported_python(tmp_path: Path) -> None:
    path = tmp_path / "env.yml"
    path.write_text(AZURE_ENV.format(python="3.8"), encoding="utf-8")
    with pytest.raises(EnvironmentSpecError) as info:
        parse_conda_file(path)
    message = info.value.one_line()
    assert "Python 3.8 is not supported" in message
    assert "env.yml" in message
    for version in SUPPORTED_PYTHONS:
        assert version in message


@pytest.mark.parametrize(
    ("conda_spec", "expected"),
    [
        ("numpy", "numpy"),
        ("numpy=1.26", "numpy==1.26.*"),
        ("numpy=1.26.*", "numpy==1.26.*"),
        ("numpy==1.26.4", "numpy==1.26.4"),
        ("numpy>=1.3", "numpy>=1.3"),
        ("numpy>=1.3,<2", "numpy<2,>=1.3"),
        ("numpy >=1.3, <2", "numpy<2,>=1.3"),
        ("numpy 1.26.*", "numpy==1.26.*"),
        ("numpy 1.26.4", "numpy==1.26.4"),
        ("numpy 1.26.4 py311h_0", "numpy==1.26.4"),
        ("numpy=1.26.4=py311h_0", "numpy==1.26.4"),
        ("conda-forge::numpy", "numpy"),
        ("conda-forge::numpy=1.26", "numpy==1.26.*"),
        ("numpy[version='>=1.2']", "numpy>=1.2"),
        ('numpy[version=">=1.2,<2", build=py311*]', "numpy<2,>=1.2"),
        ("numpy!=1.25.0", "numpy!=1.25.0"),
        ("numpy~=1.26.0", "numpy~=1.26.0"),
    ],
)
def test_version_forms(conda_spec: str, expected: str) -> None:
    quoted = "'" + conda_spec.replace("'", "''") + "'"
    assert _requirements(quoted) == (expected,)


@pytest.mark.parametrize(
    ("conda_name", "pypi"),
    [
        ("pytorch=2.1", "torch==2.1.*"),
        ("pytorch-cpu", "torch"),
        ("py-xgboost", "xgboost"),
        ("py-lightgbm", "lightgbm"),
        ("lightgbm", "lightgbm"),
        ("tensorflow-cpu", "tensorflow-cpu"),
        ("tensorflow-gpu", "tensorflow"),
        ("msgpack-python", "msgpack"),
        ("opencv", "opencv-python"),
        ("py-opencv", "opencv-python"),
        ("matplotlib-base", "matplotlib"),
        ("pytables", "tables"),
        ("typing_extensions", "typing-extensions"),
        ("ruamel_yaml", "ruamel-yaml"),
        ("PyYAML", "pyyaml"),
        ("python-dateutil", "python-dateutil"),
        ("certifi", "certifi"),
        ("tzdata", "tzdata"),
        ("libclang", "libclang"),
        ("psycopg2", "psycopg2"),
    ],
)
def test_conda_names_map_to_pypi(conda_name: str, pypi: str) -> None:
    assert _requirements(conda_name) == (pypi,)


def test_renamed_package_gets_a_notice() -> None:
    spec = parse_conda_text(_deps("pytorch"))
    assert "conda package pytorch is installed as torch" in spec.notices


def test_tooling_is_dropped() -> None:
    spec = parse_conda_text(_deps("python=3.11", "pip=23.2", "setuptools", "wheel", "numpy"))
    assert spec.requirements == ("numpy",)
    assert any(n.startswith("setuptools is not taken") for n in spec.notices)
    assert any(n.startswith("wheel is not taken") for n in spec.notices)


def test_conda_only_packages_are_all_named() -> None:
    text = _deps(
        "numpy", "cudatoolkit=11.8", "libgcc-ng", "r-base", "mkl", "_openmp_mutex", "cuda-nvcc"
    )
    with pytest.raises(EnvironmentSpecError) as info:
        parse_conda_text(text)
    message = info.value.one_line()
    assert "conda-only packages cannot be installed with pip" in message
    for name in ("cudatoolkit", "libgcc-ng", "r-base", "mkl", "_openmp_mutex", "cuda-nvcc"):
        assert name in message
    assert "numpy" not in info.value.message
    assert info.value.hint is not None and "pip:" in info.value.hint


@pytest.mark.parametrize(
    ("pin", "python"),
    [
        ("python=3.11", "3.11"),
        ("python==3.11.4", "3.11"),
        ("python 3.10.*", "3.10"),
        ("python=3.12.1=h123_0", "3.12"),
        ("python>=3.10", max(SUPPORTED_PYTHONS, key=lambda v: tuple(map(int, v.split("."))))),
        ("python>=3.10,<3.12", "3.11"),
    ],
)
def test_python_pins(pin: str, python: str) -> None:
    assert parse_conda_text(_deps(pin)).python == python


def test_python_defaults_to_a_supported_version() -> None:
    assert parse_conda_text(_deps("numpy")).python in SUPPORTED_PYTHONS


def test_pip_section_lines(tmp_path: Path) -> None:
    (tmp_path / "extra.txt").write_text("requests>=2\n", encoding="utf-8")
    path = tmp_path / "env.yml"
    path.write_text(
        _deps(
            "python=3.11",
            "pip:",
            "  - --extra-index-url https://example.invalid/simple",
            "  - -f ./wheels",
            "  - Inference_Schema[Numpy-Support] >= 1.7 ; python_version >= '3.8'",
            "  - mypkg @ https://example.invalid/mypkg-1.0-py3-none-any.whl",
            "  - git+https://example.invalid/repo.git@v1#egg=repo",
            "  - ./src/localpkg",
            "  - -r extra.txt",
        ),
        encoding="utf-8",
    )
    spec = parse_conda_file(path)
    assert spec.pip_options == (
        "--extra-index-url https://example.invalid/simple",
        f"--find-links {tmp_path / 'wheels'}",
    )
    assert spec.requirements == tuple(
        sorted(
            [
                str(tmp_path / "src" / "localpkg"),
                "git+https://example.invalid/repo.git@v1#egg=repo",
                'inference-schema[numpy-support]>=1.7; python_version >= "3.8"',
                "mypkg @ https://example.invalid/mypkg-1.0-py3-none-any.whl",
                "requests>=2",
            ]
        )
    )


def test_pip_line_wins_over_conda_dependency() -> None:
    spec = parse_conda_text(_deps("numpy=1.25", "pip:", "  - numpy==1.26.4"))
    assert spec.requirements == ("numpy==1.26.4",)
    assert any("numpy==1.26.4" in n and "numpy==1.25.*" in n for n in spec.notices)


def test_azure_packages_in_the_conda_section_with_pins() -> None:
    spec = parse_conda_text(
        _deps("azureml-core=1.44", "numpy", "pip:", "  - azureml-inference-server-http==0.8")
    )
    assert spec.requirements == ("numpy",)
    assert spec.replaced == ("azureml-core", "azureml-inference-server-http")


def test_compatible_duplicates_merge() -> None:
    spec = parse_conda_text(
        _deps(
            "pip:", "  - inference-schema", "  - inference-schema[numpy-support]>=1.7", "  - joblib"
        )
    )
    assert spec.requirements == ("inference-schema[numpy-support]>=1.7", "joblib")


@pytest.mark.parametrize(
    "text",
    [
        _deps("numpy=1.25", "numpy=1.26"),
        _deps("pip:", "  - numpy==1.25", "  - NumPy==1.26"),
        _deps("pytorch=2.0", "torch=2.1"),
    ],
)
def test_conflicting_pins_name_the_package(text: str) -> None:
    with pytest.raises(EnvironmentSpecError, match=r"conflicting requirements for (numpy|torch)"):
        parse_conda_text(text)


def test_yaml_syntax_error_names_file_and_line() -> None:
    text = "name: bad\ndependencies:\n  - numpy\n  - pip: [joblib\n  - scipy\n"
    with pytest.raises(EnvironmentSpecError, match=r"^my-env\.yml line \d+: invalid YAML"):
        parse_conda_text(text, source="my-env.yml")


def test_yaml_syntax_error_reports_the_right_line() -> None:
    text = "name: bad\ndependencies:\n  - numpy\n\t- scipy\n"
    with pytest.raises(EnvironmentSpecError, match=r"^env\.yml line 4: "):
        parse_conda_text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "env.yml is empty"),
        ("# only a comment\n", "env.yml is empty"),
        ("- numpy\n", "expected a mapping"),
        ("name: x\n", "no dependencies: list"),
        ("dependencies: numpy\n", "no dependencies: list"),
        ("dependencies:\n  - {conda: [numpy]}\n", "dependencies item 1"),
        ("dependencies:\n  - 3\n", "dependencies item 1"),
        ("dependencies:\n  - pip: numpy\n", "pip: section must be a list of strings"),
        ("channels: conda-forge\ndependencies: [numpy]\n", "channels: must be a list"),
        ("dependencies: [numpy]\nvariables: [A]\n", "variables: must be a mapping"),
        ("dependencies: ['numpy >=1.2|<1']\n", "cannot be expressed for pip"),
        ("dependencies: ['numpy=abc!!']\n", "cannot convert"),
        ("dependencies:\n  - pip:\n    - 'foo bar baz'\n", "invalid requirement 'foo bar baz'"),
        ("dependencies:\n  - pip:\n    - '--trusted-hostx a'\n", "unsupported pip option"),
        ("dependencies:\n  - pip:\n    - 'numpy==1 --hash=sha256:00'\n", "per-requirement"),
    ],
)
def test_invalid_files_have_clear_messages(text: str, expected: str) -> None:
    with pytest.raises(EnvironmentSpecError) as info:
        parse_conda_text(text)
    assert expected in info.value.message
    assert "\n" not in info.value.message


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    from serving.errors import NotFoundError

    with pytest.raises(NotFoundError, match="not found"):
        parse_conda_file(tmp_path / "nope.yml")


def test_variables_are_strings_and_sorted() -> None:
    text = _deps("numpy") + "variables:\n  ZED: 1\n  ALPHA: 'a b'\n  FLAG: true\n  EMPTY:\n"
    spec = parse_conda_text(text)
    assert spec.variables == (("ALPHA", "a b"), ("EMPTY", ""), ("FLAG", "true"), ("ZED", "1"))


def test_name_comes_from_argument_file_or_file_name(tmp_path: Path) -> None:
    path = tmp_path / "scoring-env.yml"
    path.write_text(_deps("numpy"), encoding="utf-8")
    assert parse_conda_file(path).name == "scoring-env"
    assert parse_conda_file(path, name="override").name == "override"
    assert parse_conda_text("name: inner\n" + _deps("numpy")).name == "inner"


FIRST = """\
name: first
channels: [conda-forge, defaults]
dependencies:
  - python=3.11
  - numpy=1.26
  - scikit-learn>=1.3,<1.6
  - pip:
    - azureml-defaults
    - joblib==1.3.2
    - --extra-index-url https://example.invalid/simple
variables:
  B: "2"
  A: one
"""

SECOND = """\
# the same environment, written differently
name: "second"
channels:
    - defaults
dependencies:
    - pip:
        - "JobLib == 1.3.2"
        - "--extra-index-url https://example.invalid/simple"
    - 'conda-forge::scikit-learn >=1.3, <1.6'
    - "numpy 1.26.*"
    - python 3.11.*
variables: {A: one, B: 2}
"""


def test_same_environment_written_two_ways_hashes_the_same() -> None:
    first, second = parse_conda_text(FIRST), parse_conda_text(SECOND)
    assert first.name != second.name
    assert first.channels != second.channels
    assert first.requirements == second.requirements
    assert first.content_hash() == second.content_hash()
    assert len(first.content_hash()) == 64
    assert first.short_hash == first.content_hash()[:12]


def test_a_different_pin_changes_the_hash() -> None:
    first = parse_conda_text(FIRST)
    assert parse_conda_text(FIRST.replace("numpy=1.26", "numpy=1.25")).content_hash() != (
        first.content_hash()
    )
    assert parse_conda_text(FIRST.replace("python=3.11", "python=3.12")).content_hash() != (
        first.content_hash()
    )
    assert parse_conda_text(FIRST.replace("A: one", "A: two")).content_hash() != (
        first.content_hash()
    )


def test_spec_round_trips_through_json() -> None:
    import json

    spec = parse_conda_text(FIRST)
    again = EnvSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.content_hash() == spec.content_hash()
