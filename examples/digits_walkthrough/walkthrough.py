"""The classic Azure ML v1 walkthrough ("train an image classifier, deploy it"), as a
script: only the import lines differ from the v1 notebook.

    python prepare_data.py                      # (walkthrough.py also does it)
    python walkthrough.py [--compute local|NAME]

Uploads the digits files to the workspace's default datastore, submits ``train.py`` with
the ``SKLearn`` estimator (``--data-folder`` is the datastore, mounted), streams the run,
prints its metrics, registers the model from the run, deploys it with ``score.py`` and
``env.yml`` and scores one test digit. ``--compute NAME`` runs the training on a Docker
compute (created on first use, like v1's "find or create" cluster idiom).
"""

import argparse
import json
import os
import sys

import numpy as np

# v1: from azureml.core import Workspace, Experiment, Environment, Model
#     from azureml.core.compute import ComputeTarget, AmlCompute
#     from azureml.core.compute_target import ComputeTargetException
#     from azureml.core.model import InferenceConfig
#     from azureml.core.webservice import LocalWebservice
#     from azureml.train.sklearn import SKLearn
from serving.sdk import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    Environment,
    Experiment,
    InferenceConfig,
    LocalWebservice,
    Model,
    SKLearn,
    Workspace,
)

script_folder = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, script_folder)
from prepare_data import prepare  # noqa: E402

parser = argparse.ArgumentParser(description="the digits walkthrough")
parser.add_argument("--compute", default="local", help="local, or a Docker compute's name")
parser.add_argument("--service", default="digits-knn-svc", help="the deployed service's name")
parser.add_argument("--keep", action="store_true", help="leave the service running")
args = parser.parse_args()

# -- workspace and experiment --------------------------------------------------------------
try:
    ws = Workspace.from_config()
except Exception:
    ws = Workspace.create(name="digits-walkthrough")
print(ws.name, "at", ws.path, sep="\t")
exp = Experiment(workspace=ws, name="digits-knn")

# -- compute target -------------------------------------------------------------------------
if args.compute == "local":
    compute_target = "local"
else:
    try:
        compute_target = ComputeTarget(workspace=ws, name=args.compute)
        print("found compute target", args.compute)
    except ComputeTargetException:
        config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=1)
        compute_target = ComputeTarget.create(ws, args.compute, config)
        compute_target.wait_for_completion(show_output=True)

# -- data: the digits files, uploaded to the default datastore -----------------------------
data_folder = prepare(os.path.join(os.getcwd(), "data")).parent
ds = ws.get_default_datastore()
print(ds.datastore_type, ds.name)
ds.upload(src_dir=str(data_folder), target_path=None, overwrite=True, show_progress=True)

# -- train ----------------------------------------------------------------------------------
script_params = {"--data-folder": ds.as_mount(), "--kmax": 5, "--kinterval": 2}
est = SKLearn(
    source_directory=script_folder,
    script_params=script_params,
    compute_target=compute_target,
    entry_script="train.py",
)
run = exp.submit(config=est)
print(run)
run.wait_for_completion(show_output=True)
metrics = run.get_metrics()
print(metrics)
print("Best_k:", metrics["Best_k"], "accuracy:", metrics["accuracy"])
print(run.get_file_names())

# -- register -------------------------------------------------------------------------------
model = run.register_model(model_name="digits_knn_model", model_path="outputs/digits_knn_model.pkl")
print(model.name, model.id, model.version, sep="\t")

# -- deploy and score -----------------------------------------------------------------------
env = Environment.from_conda_specification("digits-knn-env", os.path.join(script_folder, "env.yml"))
inference_config = InferenceConfig(
    entry_script="score.py", source_directory=script_folder, environment=env
)
deployment_config = LocalWebservice.deploy_configuration()
service = Model.deploy(
    ws, args.service, [model], inference_config, deployment_config, overwrite=True
)
service.wait_for_deployment(show_output=True)
print(service.scoring_uri)

X_test = np.load(os.path.join(data_folder, "digits", "test-images.npy"))
y_test = np.load(os.path.join(data_folder, "digits", "test-labels.npy"))
test_sample = json.dumps({"data": X_test[:1].tolist()})
result = service.run(input_data=test_sample)
print("label:", int(y_test[0]), "prediction:", result[0])
print(json.dumps({"label": int(y_test[0]), "prediction": result[0], "metrics": metrics}))
if not args.keep:
    service.delete()
