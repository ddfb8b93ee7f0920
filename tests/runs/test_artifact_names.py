"""Names of the files a run's ``log_image`` and JSON metrics write (a folder's runs and a
server's use the same rules: :mod:`serving.runs.artifacts`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from serving.runs import artifacts
from serving.runs.errors import UserErrorException

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("a.png", "a.png"),
        ("./plots/a.png", "plots/a.png"),
        ("plots/../plots/a.png", "plots/a.png"),
        ("plots\\a.png", "plots/a.png"),
        ("..hidden/a.png", "..hidden/a.png"),
        ("../a.png", "a.png"),
        ("{tmp}/plots/a.png", "a.png"),
    ],
)
def test_an_image_keeps_its_path_below_the_folder_else_its_name(
    given: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    for where in (work / "a.png", work / "plots/a.png", work / "..hidden/a.png",
                  tmp_path / "a.png"):  # fmt: skip
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_bytes(PNG)
    if "\\" in given:
        (work / given).write_bytes(PNG)  # a name with a backslash, on this system
    monkeypatch.chdir(work)
    assert artifacts.image_artifact(given.format(tmp=work)) == name


def test_what_is_not_an_image_file_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "note.txt").write_text("hello")
    with pytest.raises(UserErrorException, match=r"note\.txt is not an image file"):
        artifacts.image_artifact("note.txt")
    with pytest.raises(UserErrorException, match=r"no file 'missing\.png'"):
        artifacts.image_artifact("missing.png")
    with pytest.raises(UserErrorException, match="no file"):
        artifacts.image_artifact(tmp_path)


def test_two_figures_under_one_name_in_one_second_get_two_files() -> None:
    first, second = artifacts.figure_artifact("curve"), artifacts.figure_artifact("curve")
    assert first != second
    assert re.fullmatch(r"curve_\d{10}_[0-9a-f]{6}\.png", first)
    assert re.fullmatch(r"cm_[0-9a-f]{8}\.json", artifacts.metric_artifact("cm"))
