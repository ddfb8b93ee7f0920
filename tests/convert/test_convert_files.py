"""Finding the model file to convert: the same names and search as no-code deployments
(serving.scoring.nocode.files), with exactly one match required."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from serving.convert.source import model_file
from serving.errors import UserInputError
from serving.registry import ModelRecord, frameworks
from serving.scoring.nocode import files


def _record(framework: str) -> ModelRecord:
    return cast(ModelRecord, SimpleNamespace(framework=framework, ref="m:1"))


def test_nocode_and_registry_share_the_model_file_names() -> None:
    assert files.SKLEARN_SUFFIXES == frameworks.PICKLE_SUFFIXES
    assert files.SAVED_MODEL_FILES == frameworks.SAVED_MODEL_FILES


def test_double_suffixes_and_pbtxt_saved_models_are_found(tmp_path: Path) -> None:
    (tmp_path / "a" / "model.PKL.gz").parent.mkdir()
    (tmp_path / "a" / "model.PKL.gz").write_bytes(b"x")
    assert files.find_file(tmp_path, files.SKLEARN_SUFFIXES, "m").name == "model.PKL.gz"
    assert model_file(_record("sklearn"), tmp_path).name == "model.PKL.gz"
    saved = tmp_path / "b" / "saved"
    saved.mkdir(parents=True)
    (saved / "saved_model.pbtxt").write_text("")
    assert files.find_saved_model(tmp_path) == saved
    assert model_file(_record("tensorflow"), tmp_path) == saved


def test_convert_wants_exactly_one_model_file(tmp_path: Path) -> None:
    for name in ("one.pkl", "two.joblib"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(UserInputError, match="expected one model file"):
        model_file(_record("sklearn"), tmp_path)
    with pytest.raises(UserInputError, match="not a tensorflow model file"):
        model_file(_record("tensorflow"), tmp_path / "one.pkl")
    assert model_file(_record("sklearn"), tmp_path / "one.pkl") == tmp_path / "one.pkl"
