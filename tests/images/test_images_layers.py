"""Model layers as reproducible tarballs and the image config put on them (no Docker)."""

from __future__ import annotations

import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from serving.images.layers import LayerSource, image_archive, image_config, write_layer

PARENT = {
    "Architecture": "amd64",
    "Os": "linux",
    "Config": {
        "Env": ["PATH=/usr/bin", "LANG=C.UTF-8"],
        "Cmd": ["python3"],
        "User": "serving",
        "Labels": {"serving.env.hash": "abc"},
        "Image": "sha256:parent",
    },
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "1" * 64, "sha256:" + "2" * 64]},
}
HISTORY = [  # newest first, as the API returns it
    {"Created": 1700000100, "CreatedBy": "LABEL x", "Size": 0},
    {"Created": 1700000050, "CreatedBy": "COPY venv", "Size": 10},
    {"Created": 1700000000, "CreatedBy": "import", "Size": 5},
]


def _tree(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "score.py").write_text("def init(): pass\ndef run(data): return data\n")
    (root / "src" / "pkg" / "util.py").write_text("X = 1\n")
    (root / "src" / "pkg" / "__pycache__").mkdir()
    (root / "src" / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0")
    return root / "src"


def test_layers_are_reproducible_and_keep_folder_owners(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    spec = LayerSource(
        source,
        "/var/azureml-app",
        owner=10001,
        parents={"/var/azureml-app": 10001},
        created_by="code",
    )
    first = write_layer(spec, tmp_path / "a.tar")
    (source / "score.py").touch()  # a new file time changes nothing
    second = write_layer(spec, tmp_path / "b.tar")
    assert first.diff_id == second.diff_id and first.diff_id.startswith("sha256:")
    with tarfile.open(first.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members)[:2] == ["var", "var/azureml-app"]
    assert members["var"].uid == 0 and members["var/azureml-app"].uid == 10001
    assert members["var/azureml-app/score.py"].uid == 10001
    assert not any("__pycache__" in name for name in members)
    (source / "score.py").write_text("changed")
    assert write_layer(spec, tmp_path / "c.tar").diff_id != first.diff_id


def test_image_config_adds_layers_settings_and_history(tmp_path: Path) -> None:
    layer = write_layer(
        LayerSource(_tree(tmp_path), "/opt/x", created_by="serving: code"), tmp_path / "l.tar"
    )
    config = image_config(
        PARENT,
        HISTORY,
        [layer],
        env={"LANG": "C", "A": "1"},
        cmd=["gunicorn"],
        labels={"serving.models": "{}"},
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert config["rootfs"]["diff_ids"] == [*PARENT["RootFS"]["Layers"], layer.diff_id]
    assert config["config"]["Env"] == ["PATH=/usr/bin", "LANG=C", "A=1"]
    assert config["config"]["Cmd"] == ["gunicorn"] and config["config"]["User"] == "serving"
    assert config["config"]["Labels"] == {"serving.env.hash": "abc", "serving.models": "{}"}
    assert "Image" not in config["config"]
    non_empty = [h for h in config["history"] if not h.get("empty_layer")]
    assert len(non_empty) == len(config["rootfs"]["diff_ids"])
    assert [h["created_by"] for h in config["history"]][:3] == ["import", "COPY venv", "LABEL x"]

    odd = image_config(
        PARENT,
        HISTORY[:1],
        [layer],
        env={},
        cmd=[],
        labels={},
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert len([h for h in odd["history"] if not h.get("empty_layer")]) == 3

    with image_archive(config, [layer]) as archive, tarfile.open(fileobj=archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest[0]["Layers"][-1] == f"{layer.diff_id[7:]}/layer.tar"
    assert f"{layer.diff_id[7:]}/layer.tar" in names and len(manifest[0]["Layers"]) == 3
    assert sum(1 for n in names if n.endswith("layer.tar")) == 1  # lower layers stay out
