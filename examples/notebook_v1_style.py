"""An Azure ML v1 notebook ("train on local, deploy, score") as a script: each cell below
is a notebook cell, and only the import lines differ from the v1 notebook.

    python examples/notebook_v1_style.py [--project DIR]

The notebook writes its training script, conda file and entry script (the ``%%writefile``
cells), submits the script with a ``ScriptRunConfig`` and an ``Environment`` from the conda
file, waits, reads the metrics, registers the model from the run, deploys and scores it.
"""

import argparse
import json
import os
import textwrap

# v1: from azureml.core import Workspace, Experiment, Environment, ScriptRunConfig
#     from azureml.core.model import Model, InferenceConfig
#     from azureml.core.webservice import LocalWebservice
from serving.sdk import (
    Environment,
    Experiment,
    InferenceConfig,
    LocalWebservice,
    Model,
    ScriptRunConfig,
    Workspace,
)

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--project", default="train-on-local", help="the notebook's script folder")
parser.add_argument("--keep", action="store_true", help="leave the service running")
args = parser.parse_args()

# %% Initialize the workspace
try:
    ws = Workspace.from_config()
except Exception:
    ws = Workspace.create(name="notebook-ws")
print("Workspace name: " + ws.name, "Path: " + str(ws.path), sep="\n")

# %% Create an experiment
experiment_name = "train-on-local"
exp = Experiment(workspace=ws, name=experiment_name)

# %% %%writefile train-on-local/train.py
script_folder = args.project
os.makedirs(script_folder, exist_ok=True)
TRAIN = """
import argparse
import os

import joblib
from azureml.core.run import Run
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--regularization", type=float, dest="reg", default=0.01)
args = parser.parse_args()

run = Run.get_context()
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
for c in [args.reg, args.reg * 10, args.reg * 100]:
    clf = LogisticRegression(C=1.0 / c, max_iter=2000).fit(X_train, y_train)
    run.log("regularization", c)
    run.log("accuracy", clf.score(X_test, y_test))

os.makedirs("outputs", exist_ok=True)
joblib.dump(value=clf, filename="outputs/sklearn_digits_model.pkl")
"""
with open(os.path.join(script_folder, "train.py"), "w") as f:
    f.write(TRAIN)

# %% %%writefile train-on-local/env.yml
with open(os.path.join(script_folder, "env.yml"), "w") as f:
    f.write(
        textwrap.dedent(
            """\
            name: sklearn-env
            dependencies:
              - pip:
                - scikit-learn
                - joblib
            """
        )
    )

# %% Configure and submit the run
env = Environment.from_conda_specification(
    name="sklearn-env", file_path=os.path.join(script_folder, "env.yml")
)
src = ScriptRunConfig(
    source_directory=script_folder,
    script="train.py",
    arguments=["--regularization", 0.01],
    compute_target="local",
    environment=env,
)
run = exp.submit(src)
print(run)  # the notebook cell shows the run

# %% Wait, then look at the metrics
run.wait_for_completion(show_output=True)
metrics = run.get_metrics()
print(metrics)
print("Best accuracy:", max(metrics["accuracy"]))
print(run.get_file_names())

# %% Register the model
model = run.register_model(
    model_name="sklearn-digits", model_path="outputs/sklearn_digits_model.pkl"
)
print(model.name, model.id, model.version, sep="\t")

# %% %%writefile train-on-local/score.py
SCORE = """
import json
import os

import joblib
import numpy as np


def init():
    global model
    model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "sklearn_digits_model.pkl"))


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"])
    return model.predict(data).tolist()
"""
with open(os.path.join(script_folder, "score.py"), "w") as f:
    f.write(SCORE)

# %% Deploy as a local web service
inference_config = InferenceConfig(
    entry_script="score.py", source_directory=script_folder, environment=env
)
deployment_config = LocalWebservice.deploy_configuration()
service = Model.deploy(
    ws, "sklearn-digits-svc", [model], inference_config, deployment_config, overwrite=True
)
service.wait_for_deployment(show_output=True)
print(service.state)

# %% Score: a digit "0" from the data set
from sklearn.datasets import load_digits  # noqa: E402

X, y = load_digits(return_X_y=True)
test_sample = json.dumps({"data": X[:2].tolist()})
prediction = service.run(input_data=test_sample)
print("labels:", y[:2].tolist(), "predictions:", prediction)
print(json.dumps({"labels": y[:2].tolist(), "predictions": prediction}))

# %% Clean up
if not args.keep:
    service.delete()
