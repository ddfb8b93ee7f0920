"""requirements.txt parsing: comments, continuations, options, -r, Azure packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.config import SUPPORTED_PYTHONS
from serving.environments import parse_conda_text, parse_pip_requirements_file
from serving.environments import parse_pip_requirements_text as parse_text
from serving.errors import EnvironmentSpecError, NotFoundError


def test_requirements_file_with_comments_continuations_and_options(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("# shared\nrequests>=2.31  # http\n", encoding="utf-8")
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# scoring requirements\n"
        "\n"
        "--index-url https://example.invalid/simple\n"
        "-i https://example.invalid/other\n"
        "--extra-index-url=https://example.invalid/extra\n"
        "--pre\n"
        "-r base.txt\n"
        "Scikit_Learn >= 1.3, \\\n"
        "    < 1.6\n"
        "numpy==1.26.4 ; python_version >= '3.10'  # pinned\n"
        "azureml-defaults==1.44.0\n"
        "azureml-monitoring\n"
        "git+https://example.invalid/repo.git#egg=repo\n",
        encoding="utf-8",
    )
    spec = parse_pip_requirements_file(path, "scoring", python="3.11")
    assert spec.name == "scoring"
    assert spec.python == "3.11"
    assert spec.source_format == "pip"
    assert spec.pip_options == (
        "--index-url https://example.invalid/simple",
        "--index-url https://example.invalid/other",
        "--extra-index-url https://example.invalid/extra",
        "--pre",
    )
    assert spec.requirements == (
        "git+https://example.invalid/repo.git#egg=repo",
        'numpy==1.26.4; python_version >= "3.10"',
        "requests>=2.31",
        "scikit-learn<1.6,>=1.3",
    )
    assert spec.replaced == ("azureml-defaults", "azureml-monitoring")
    assert "azureml-monitoring is replaced by the serving runtime (not installed)" in spec.notices


def test_nested_includes_resolve_relative_to_each_file(tmp_path: Path) -> None:
    (tmp_path / "deps").mkdir()
    (tmp_path / "deps" / "inner.txt").write_text("joblib\n-e ../src/pkg\n", encoding="utf-8")
    (tmp_path / "deps" / "outer.txt").write_text("-r inner.txt\nnumpy\n", encoding="utf-8")
    path = tmp_path / "requirements.txt"
    path.write_text("--requirement deps/outer.txt\n", encoding="utf-8")
    spec = parse_pip_requirements_file(path, "nested")
    assert spec.requirements == (f"--editable {tmp_path / 'src' / 'pkg'}", "joblib", "numpy")


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("-r a.txt\n", encoding="utf-8")
    with pytest.raises(EnvironmentSpecError, match="includes itself"):
        parse_pip_requirements_file(tmp_path / "a.txt", "cycle")


def test_missing_include_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("numpy\n-r missing.txt\n", encoding="utf-8")
    with pytest.raises(NotFoundError, match=r"requirements\.txt line 2: file .*missing\.txt"):
        parse_pip_requirements_file(path, "missing")


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "train-reqs.txt"
    path.write_text("numpy\n", encoding="utf-8")
    assert parse_pip_requirements_file(path).name == "train-reqs"


def test_python_argument_is_validated() -> None:
    assert parse_text("numpy\n", python="3.10.4").python == "3.10"
    assert parse_text("numpy\n").python in SUPPORTED_PYTHONS
    with pytest.raises(EnvironmentSpecError, match=r"Python 3\.7 is not supported"):
        parse_text("numpy\n", python="3.7")
    with pytest.raises(EnvironmentSpecError, match="invalid Python version"):
        parse_text("numpy\n", python="three")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numpy==1.1\nNumPy==1.2\n", "requirements.txt: conflicting requirements for numpy"),
        ("numpy\n!!!\n", "requirements.txt line 2: invalid requirement '!!!'"),
        ("--index-url\n", "needs a value"),
        ("--pre yes\n", "takes no value"),
        ("--user\n", "unsupported pip option --user"),
    ],
)
def test_errors_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(EnvironmentSpecError) as info:
        parse_text(text)
    assert expected in info.value.message


def test_same_packages_as_conda_and_pip_hash_the_same() -> None:
    pip = parse_text("joblib==1.3.2\nnumpy==1.26.*\n", python="3.11")
    conda = parse_conda_text(
        "dependencies:\n  - python=3.11\n  - numpy=1.26\n  - pip:\n    - joblib==1.3.2\n"
    )
    assert pip.requirements == conda.requirements
    assert pip.content_hash() == conda.content_hash()
