"""Submit the hand-sign style CNN (train.py) as a run with v1's ``TensorFlow`` estimator,
register its SavedModel and deploy it with the TensorFlow scoring template.

    python submit.py [--compute local|NAME] [--epochs 15]

The run's environment is the template's env.yml (tensorflow-cpu), so training and the
deployment share one cached environment. Only the import lines differ from Azure ML v1.
"""

import argparse
import json
import os
import sys

import numpy as np

# v1: from azureml.core import Workspace, Experiment, Environment, Model
#     from azureml.core.model import InferenceConfig
#     from azureml.core.webservice import LocalWebservice
#     from azureml.train.dnn import TensorFlow
from serving.sdk import (
    Environment,
    Experiment,
    InferenceConfig,
    LocalWebservice,
    Model,
    TensorFlow,
    Workspace,
)

script_folder = os.path.dirname(os.path.abspath(__file__))
template = os.path.join(script_folder, os.pardir, os.pardir, "scoring_templates", "tensorflow")
sys.path.insert(0, os.path.join(script_folder, os.pardir, "digits_walkthrough"))
from prepare_data import prepare  # noqa: E402

parser = argparse.ArgumentParser(description="the TensorFlow hand-sign style example")
parser.add_argument("--compute", default="local", help="local, or a compute target's name")
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--service", default="digits-cnn-svc")
parser.add_argument("--keep", action="store_true", help="leave the service running")
args = parser.parse_args()

try:
    ws = Workspace.from_config()
except Exception:
    ws = Workspace.create(name="tf-handsign")
exp = Experiment(workspace=ws, name="digits-cnn")

data_folder = prepare(os.path.join(os.getcwd(), "data")).parent
ds = ws.get_default_datastore()
ds.upload(src_dir=str(data_folder), target_path=None, overwrite=True, show_progress=True)

est = TensorFlow(
    source_directory=script_folder,
    entry_script="train.py",
    script_params={"--data-folder": ds.as_mount(), "--classes": 4, "--epochs": args.epochs},
    compute_target=args.compute,
    conda_dependencies_file=os.path.abspath(os.path.join(template, "env.yml")),
    environment_variables={"TF_CPP_MIN_LOG_LEVEL": "2"},
)
run = exp.submit(est)
run.wait_for_completion(show_output=True)
metrics = run.get_metrics()
print("per-epoch accuracy:", metrics["accuracy"])
print("test accuracy:", metrics["test_accuracy"])

model = run.register_model(model_name="digits-cnn", model_path="outputs/model")
print(model.name, model.version, sep="\t")

env = Environment.from_conda_specification("digits-tf-env", os.path.join(template, "env.yml"))
inference_config = InferenceConfig(
    entry_script="score.py", source_directory=template, environment=env
)
service = Model.deploy(
    ws, args.service, [model], inference_config, LocalWebservice.deploy_configuration(),
    overwrite=True,
)  # fmt: skip
service.wait_for_deployment(show_output=True)

X_test = np.load(os.path.join(data_folder, "digits", "test-images.npy"))
y_test = np.load(os.path.join(data_folder, "digits", "test-labels.npy"))
keep = y_test < 4
rows, labels = X_test[keep][:8], y_test[keep][:8]
result = service.run(input_data=json.dumps({"data": rows.tolist()}))
print("labels:     ", labels.tolist())
print("predictions:", result["predictions"])
print(json.dumps({"labels": labels.tolist(), "predictions": result["predictions"]}))
if not args.keep:
    service.delete()
