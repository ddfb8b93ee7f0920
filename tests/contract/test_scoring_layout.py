"""The Azure app folder layout and its environment variables."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.scoring import CONTAINER_APP_ROOT, ModelFiles, plan_layout, write_app_dir
from serving.scoring.layout import container_env, script_relpath


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    src = tmp_path / "my-src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    (src / "helper.py").write_text("X = 1\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "junk.pyc").write_bytes(b"x")
    return src


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "store" / "model.pkl"
    path.parent.mkdir()
    path.write_bytes(b"weights")
    return path


def test_one_model_env_points_at_its_version_folder(
    tmp_path: Path, source: Path, model_file: Path
) -> None:
    app = tmp_path / "app"
    layout = write_app_dir(app, Path("pkg/score.py"), source, [ModelFiles("m1", 3, model_file)])
    assert layout.env == {
        "AML_APP_ROOT": str(app),
        "AZUREML_SOURCE_DIRECTORY": "my-src",
        "AZUREML_ENTRY_SCRIPT": "my-src/pkg/score.py",
        "AZUREML_MODEL_DIR": str(app / "azureml-models" / "m1" / "3"),
    }
    assert (app / "my-src" / "pkg" / "score.py").is_file()
    assert (app / "my-src" / "helper.py").is_file()
    assert not (app / "my-src" / "__pycache__").exists()
    placed = app / "azureml-models" / "m1" / "3" / "model.pkl"
    assert placed.read_bytes() == b"weights"
    assert os.stat(placed).st_ino == os.stat(model_file).st_ino  # hard-linked, not copied


def test_several_models_env_points_at_the_models_root(tmp_path: Path, model_file: Path) -> None:
    folder = tmp_path / "folder-model"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_bytes(b"1")
    script = tmp_path / "score.py"
    script.write_text("")
    app = tmp_path / "app"
    layout = write_app_dir(
        app, script, None, [ModelFiles("a", 1, model_file), ModelFiles("b", 2, folder)]
    )
    assert layout.env["AZUREML_MODEL_DIR"] == str(app / "azureml-models")
    assert layout.env["AZUREML_ENTRY_SCRIPT"] == "score.py"
    assert "AZUREML_SOURCE_DIRECTORY" not in layout.env
    assert (app / "score.py").is_file()
    assert (
        app / "azureml-models" / "b" / "2" / "folder-model" / "sub" / "w.bin"
    ).read_bytes() == b"1"
    assert layout.model_paths == (
        app / "azureml-models" / "a" / "1" / "model.pkl",
        app / "azureml-models" / "b" / "2" / "folder-model",
    )


def test_symlinked_models(tmp_path: Path, model_file: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text("")
    layout = write_app_dir(
        tmp_path / "app", script, None, [ModelFiles("a", 1, model_file)], symlink_models=True
    )
    assert Path(layout.model_paths[0]).resolve() == model_file.resolve()


def test_container_env_uses_var_azureml_app(model_file: Path) -> None:
    env = container_env(
        entry_script="score.py", source_dir_name="src", models=[ModelFiles("m", 1, model_file)]
    )
    assert env == {
        "AML_APP_ROOT": "/var/azureml-app",
        "AZUREML_SOURCE_DIRECTORY": "src",
        "AZUREML_ENTRY_SCRIPT": "src/score.py",
        "AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models/m/1",
    }
    layout = plan_layout(CONTAINER_APP_ROOT, entry_script="a/b.py", source_dir_name=None, models=[])
    assert layout.model_dir == PurePosixPath("/var/azureml-app/azureml-models")
    assert layout.entry_script == "a/b.py"


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([ModelFiles("-bad", 1, Path("x"))], "model name '-bad' is not valid"),
        ([ModelFiles("m", -1, Path("x"))], "negative version"),
        ([ModelFiles("m", 1, Path("x")), ModelFiles("m", 1, Path("y"))], "listed twice"),
    ],
)
def test_invalid_models(models: list[ModelFiles], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        plan_layout(CONTAINER_APP_ROOT, entry_script="s.py", source_dir_name="src", models=models)


def test_entry_script_must_be_inside_the_source(tmp_path: Path, source: Path) -> None:
    outside = tmp_path / "other.py"
    outside.write_text("")
    with pytest.raises(UserInputError, match="is not inside the source directory"):
        script_relpath(outside, source)
    assert script_relpath(source / "pkg" / "score.py", source) == "pkg/score.py"


def test_missing_inputs(tmp_path: Path, source: Path) -> None:
    with pytest.raises(NotFoundError):
        script_relpath(tmp_path / "nope.py", None)
    with pytest.raises(NotFoundError):
        script_relpath(Path("nope.py"), source)
    with pytest.raises(NotFoundError, match="has no files"):
        write_app_dir(
            tmp_path / "app", Path("pkg/score.py"), source, [ModelFiles("m", 1, tmp_path / "x")]
        )


def test_app_folder_must_be_new_or_empty(tmp_path: Path, source: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "old").write_text("")
    with pytest.raises(ConflictError):
        write_app_dir(app, Path("pkg/score.py"), source, [])


def test_app_folder_cannot_be_inside_the_source(source: Path) -> None:
    with pytest.raises(UserInputError, match="cannot be inside the source"):
        write_app_dir(source / "app", Path("pkg/score.py"), source, [])
