"""Models and datasets the v1 way: register with a resource configuration, framework and
sample datasets; list by name and tags; the client-side get_model_path; tags; datasets on
the default datastore (register, versions, pandas, download, as_named_input)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from serving.errors import ConflictError, UserInputError
from serving.sdk import (
    Dataset,
    Datastore,
    Model,
    PromoteHeadersBehavior,
    ResourceConfiguration,
    Workspace,
)

CSV = "sepal,petal,label\n5.1,1.4,0\n6.2,4.5,1\n"


@pytest.fixture()
def iris(v1ws: Workspace, project: Path) -> Dataset:
    (project / "data").mkdir()
    (project / "data" / "iris.csv").write_text(CSV)
    datastore = v1ws.get_default_datastore()
    datastore.upload(src_dir=str(project / "data"), target_path="iris", show_progress=False)
    return Dataset.Tabular.from_delimited_files(path=[(datastore, "iris/iris.csv")])


def test_register_with_v1_extras_and_lookups(
    v1ws: Workspace, small_tree: Path, iris: Dataset
) -> None:
    iris = iris.register(v1ws, "iris")
    model = Model.register(
        workspace=v1ws, model_path=str(small_tree), model_name="iris-model",
        tags={"area": "iris", "type": "classification"}, description="iris",
        model_framework=Model.Framework.SCIKITLEARN, model_framework_version="1.9",
        resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5),
        sample_input_dataset=iris, sample_output_dataset=iris,
    )  # fmt: skip
    assert model.model_framework == "sklearn" and model.model_framework_version == "1.9"
    assert model.resource_configuration == ResourceConfiguration(cpu=1, memory_in_gb=0.5)
    assert model.sample_input_dataset.name == "iris"
    assert model.serialize()["properties"]["azureml.sampleInputDataset"] == "iris"

    Model.register(v1ws, str(small_tree), "iris-model", tags={"area": "iris"})
    assert [m.version for m in Model.list(v1ws, name="iris-model")] == [2, 1]
    assert [m.version for m in Model.list(v1ws, tags=[["type", "classification"]])] == [1]
    assert [m.version for m in Model.list(v1ws, tags=["area"])] == [2, 1]

    model.add_tags({"stage": "dev"})
    model.remove_tags(["type"])
    model.update(description="iris, tuned")
    fresh = Model(v1ws, "iris-model", version=1)
    assert fresh.tags == {"area": "iris", "stage": "dev"} and fresh.description == "iris, tuned"


def test_register_warns_about_what_it_cannot_honour(sdk_ws: Workspace, small_tree: Path) -> None:
    with pytest.warns(UserWarning, match="child_paths"):
        Model.register(sdk_ws, str(small_tree), "m", child_paths=["weights.bin"])


def test_get_model_path_on_the_client_downloads_the_model(
    sdk_ws: Workspace, small_tree: Path, project: Path
) -> None:
    Model.register(sdk_ws, str(small_tree), "tree")
    path = Model.get_model_path("tree", version=1, _workspace=sdk_ws)
    assert Path(path) == Path("azureml-models/tree/1/model_dir")
    assert (project / path / "sub" / "config.json").read_text() == '{"a": 1}'
    assert Model.get_model_path("tree", _workspace=sdk_ws) == path  # already there


def test_tabular_dataset_flow(v1ws: Workspace, iris: Dataset, project: Path) -> None:
    registered = iris.register(workspace=v1ws, name="iris", description="flowers")
    assert registered.version == 1 and registered.description == "flowers"
    assert iris.register(v1ws, "iris").version == 1  # the same definition again
    other = Dataset.Tabular.from_delimited_files(
        path=[(v1ws.get_default_datastore(), "iris/*.csv")],
        header=PromoteHeadersBehavior.ALL_FILES_HAVE_SAME_HEADERS,
    )
    with pytest.raises(ConflictError, match="create_new_version"):
        other.register(v1ws, "iris")
    assert other.register(v1ws, "iris", create_new_version=True).version == 2

    latest = Dataset.get_by_name(v1ws, name="iris", version="latest")
    if importlib.util.find_spec("pandas") is None:  # an optional package, as in v1
        with pytest.raises(UserInputError, match="needs pandas"):
            latest.to_pandas_dataframe()
    else:
        df = latest.to_pandas_dataframe()
        assert list(df.columns) == ["sepal", "petal", "label"] and len(df) == 2
    assert latest.to_path()[0].endswith("iris/iris.csv")
    assert Dataset.get_by_name(v1ws, "iris", version=1).version == 1
    assert list(v1ws.datasets) == ["iris"]
    files = iris.download(target_path=project / "copy")
    assert [Path(f).name for f in files] == ["iris.csv"]


def test_file_dataset_and_named_input(v1ws: Workspace, project: Path) -> None:
    (project / "imgs").mkdir()
    for i in range(3):
        (project / "imgs" / f"{i}.json").write_text(json.dumps({"data": [i]}))
    store: Datastore = v1ws.get_default_datastore()
    store.upload(str(project / "imgs"), target_path="imgs", show_progress=False)
    files = Dataset.File.from_files(path=[(store, "imgs")])
    assert sorted(Path(p).name for p in files.to_path()) == ["0.json", "1.json", "2.json"]
    with pytest.raises(UserInputError, match="to_pandas_dataframe"):
        files.to_pandas_dataframe()
    ref = files.register(v1ws, "imgs").as_named_input("images").as_mount()
    assert str(ref) == "$AZUREML_DATAREFERENCE_images" and ref.path_on_datastore == "imgs"
    assert files.request_bodies()[0] == '{"data": [0]}'
