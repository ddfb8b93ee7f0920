"""An Azure ML v1 hyperparameter-tuning notebook ("tune, then register the best model") as a
script: each cell below is a notebook cell, and only the import lines differ from v1.

    python examples/sweep_digits/notebook_v1_style.py [--project DIR] [--user-managed]

The notebook writes its training script and conda file (the ``%%writefile`` cells), builds
a ``HyperDriveConfig`` over a ``ScriptRunConfig`` with random sampling and a
``BanditPolicy``, submits it, waits, reads the best run's metrics and arguments, and
registers the best run's model. ``--user-managed`` sets
``env.python.user_managed_dependencies = True`` (a v1 setting): the trials run in this
interpreter and no environment is built.
"""

import argparse
import json
import os
import textwrap

# v1: from azureml.core import Workspace, Experiment, Environment, ScriptRunConfig
#     from azureml.train.hyperdrive import RandomParameterSampling, BanditPolicy
#     from azureml.train.hyperdrive import HyperDriveConfig, PrimaryMetricGoal
#     from azureml.train.hyperdrive import choice, loguniform
from serving.sdk import Environment, Experiment, ScriptRunConfig, Workspace
from serving.sdk.hyperdrive import (
    BanditPolicy,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    loguniform,
)

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--project", default="sklearn-hyperdrive", help="the notebook's folder")
parser.add_argument("--user-managed", action="store_true", help="no environment is built")
parser.add_argument("--total-runs", type=int, default=8, help="max_total_runs")
args = parser.parse_args()

# %% Initialize the workspace
try:
    ws = Workspace.from_config()
except Exception:
    ws = Workspace.create(name="hyperdrive-ws")
print("Workspace name: " + ws.name, "Path: " + str(ws.path), sep="\n")

# %% Create an experiment
experiment_name = "sklearn-hyperdrive"
exp = Experiment(workspace=ws, name=experiment_name)

# %% %%writefile sklearn-hyperdrive/train.py
script_folder = args.project
os.makedirs(script_folder, exist_ok=True)
TRAIN = """
import argparse
import os

import joblib
import numpy as np
from azureml.core.run import Run
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=0.0001, help="regularization strength")
parser.add_argument("--loss", type=str, default="hinge", help="loss function")
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

run = Run.get_context()
run.log("alpha", np.float64(args.alpha))
run.log("loss", args.loss)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)
clf = SGDClassifier(alpha=args.alpha, loss=args.loss, random_state=0)
for epoch in range(args.epochs):
    clf.partial_fit(X_train, y_train, classes=np.arange(10))
    run.log("Accuracy", np.float64(clf.score(X_test, y_test)))

os.makedirs("outputs", exist_ok=True)
joblib.dump(value=clf, filename="outputs/model.joblib")
"""
with open(os.path.join(script_folder, "train.py"), "w") as f:
    f.write(TRAIN)

# %% %%writefile sklearn-hyperdrive/conda_dependencies.yml
with open(os.path.join(script_folder, "conda_dependencies.yml"), "w") as f:
    f.write(
        textwrap.dedent(
            """\
            name: sklearn-training-env
            dependencies:
              - pip:
                - scikit-learn
                - joblib
            """
        )
    )

# %% Create the environment and the ScriptRunConfig
sklearn_env = Environment.from_conda_specification(
    name="sklearn-env", file_path=os.path.join(script_folder, "conda_dependencies.yml")
)
if args.user_managed:
    sklearn_env.python.user_managed_dependencies = True
src = ScriptRunConfig(
    source_directory=script_folder,
    script="train.py",
    arguments=["--epochs", 10],
    compute_target="local",
    environment=sklearn_env,
)

# %% Define the parameter space, the early termination policy and the HyperDriveConfig
param_sampling = RandomParameterSampling(
    {
        "--alpha": loguniform(-12, -4),
        "--loss": choice("hinge", "log_loss", "modified_huber"),
    }
)
early_termination_policy = BanditPolicy(evaluation_interval=2, slack_factor=0.1)
hyperdrive_config = HyperDriveConfig(
    run_config=src,
    hyperparameter_sampling=param_sampling,
    policy=early_termination_policy,
    primary_metric_name="Accuracy",
    primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
    max_total_runs=args.total_runs,
    max_concurrent_runs=2,
)

# %% Submit the experiment
hyperdrive_run = exp.submit(hyperdrive_config)
hyperdrive_run.wait_for_completion(show_output=True)
assert hyperdrive_run.get_status() == "Completed"

# %% Find and register the best model
best_run = hyperdrive_run.get_best_run_by_primary_metric()
best_run_metrics = best_run.get_metrics()
parameter_values = best_run.get_details()["runDefinition"]["arguments"]

print("Best Run Id: ", best_run.id)
print("\n Accuracy:", max(best_run_metrics["Accuracy"]))
print("\n alpha:", parameter_values[3])
print("\n loss:", parameter_values[5])

model = best_run.register_model(model_name="sklearn-digits-sgd", model_path="outputs/model.joblib")
print(model.name, model.id, model.version, sep="\t")

# %% Every child's parameters and metrics
print(json.dumps(hyperdrive_run.get_hyperparameters(), indent=1))
print(
    json.dumps(
        {
            "sweep": hyperdrive_run.id,
            "best_run": best_run.id,
            "accuracy": max(best_run_metrics["Accuracy"]),
            "arguments": parameter_values,
            "children": len(hyperdrive_run.get_hyperparameters()),
            "model": model.id,
        }
    )
)
