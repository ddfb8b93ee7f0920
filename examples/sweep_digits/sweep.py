"""A HyperDrive sweep, Azure ML v1 style: tune a small scikit-learn neural network on the
bundled digits over two parameters (hidden units and learning rate) with 12 random trials,
two at a time, stopping poor trials early with a Bandit policy; then register the best
run's model, deploy it as a local web service and score a digit.

    python examples/sweep_digits/sweep.py [--user-managed] [--keep] [--compute NAME]

Run it from a project folder (it creates ``.serving/`` there). The children train in the
environment from ``env.yml`` (built once, cached, and shared with the deployment);
``--user-managed`` trains in this interpreter instead (it must have scikit-learn);
``--compute NAME`` runs the trials on a compute target (Docker, or a Ray cluster: see
docs/ray.md). Then
look at the sweep with ``serving runs show <sweep id>`` and
``serving runs chart <sweep id> --output sweep.png``.
"""

import argparse
import json
import os

from sklearn.datasets import load_digits

# v1: from azureml.core import Workspace, Experiment, Environment, ScriptRunConfig, Model
#     from azureml.core.model import InferenceConfig
#     from azureml.core.webservice import LocalWebservice
#     from azureml.train.hyperdrive import (BanditPolicy, HyperDriveConfig, PrimaryMetricGoal,
#                                           RandomParameterSampling, choice, loguniform)
from serving.sdk import (
    Environment,
    Experiment,
    InferenceConfig,
    LocalWebservice,
    Model,
    ScriptRunConfig,
    Workspace,
)
from serving.sdk.hyperdrive import (
    BanditPolicy,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    loguniform,
)

script_folder = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser(description="a HyperDrive sweep on the digits")
parser.add_argument("--user-managed", action="store_true", help="train in this interpreter")
parser.add_argument("--trials", type=int, default=12, help="max_total_runs")
parser.add_argument("--compute", default="local", help="local, or a compute target's name")
parser.add_argument("--service", default="sweep-digits-svc", help="the deployed service")
parser.add_argument("--keep", action="store_true", help="leave the service running")
args = parser.parse_args()

# -- workspace, experiment, environment -----------------------------------------------------
try:
    ws = Workspace.from_config()
except Exception:
    ws = Workspace.create(name="sweep-digits")
exp = Experiment(workspace=ws, name="sweep-digits")
env = Environment.from_conda_specification(
    "sweep-digits-env", os.path.join(script_folder, "env.yml")
)
train_env = Environment("sweep-digits-here") if args.user_managed else env
if args.user_managed:
    train_env.python.user_managed_dependencies = True

# -- the sweep -------------------------------------------------------------------------------
src = ScriptRunConfig(
    source_directory=script_folder,
    script="train.py",
    arguments=["--epochs", 12],
    compute_target=args.compute,
    environment=train_env,
)
sampling = RandomParameterSampling(
    {
        "--hidden": choice(8, 16, 32, 64),
        "--learning-rate": loguniform(-7, -2),  # exp(-7) .. exp(-2): 0.0009 .. 0.135
    },
    seed=42,  # not in v1: the same 12 trials every time
)
policy = BanditPolicy(evaluation_interval=1, slack_factor=0.15, delay_evaluation=3)
hd_config = HyperDriveConfig(
    run_config=src,
    hyperparameter_sampling=sampling,
    policy=policy,
    primary_metric_name="accuracy",
    primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
    max_total_runs=args.trials,
    max_concurrent_runs=2,
)
hd_run = exp.submit(hd_config)
print(hd_run.id)
hd_run.wait_for_completion(show_output=True)

# -- the best run ----------------------------------------------------------------------------
best_run = hd_run.get_best_run_by_primary_metric()
best_accuracy = max(best_run.get_metrics()["accuracy"])
arguments = best_run.get_details()["runDefinition"]["arguments"]
print("best run:", best_run.id, "accuracy:", best_accuracy, "arguments:", arguments)
statuses = [child["status"] for child in hd_run.get_children_sorted_by_primary_metric()]
print("children:", {s: statuses.count(s) for s in sorted(set(statuses))})
model = best_run.register_model(model_name="sweep-digits", model_path="outputs/model.pkl")
print(model.name, model.id, model.version, sep="\t")

# -- deploy and score ------------------------------------------------------------------------
inference_config = InferenceConfig(
    entry_script="score.py", source_directory=script_folder, environment=env
)
service = Model.deploy(
    ws, args.service, [model], inference_config, LocalWebservice.deploy_configuration(),
    overwrite=True,
)  # fmt: skip
service.wait_for_deployment(show_output=True)
X, y = load_digits(return_X_y=True)
prediction = service.run(input_data=json.dumps({"data": X[-3:].tolist()}))
print("labels:", y[-3:].tolist(), "predictions:", prediction)
print(f"chart: serving runs chart {hd_run.id} --output sweep.png")
result = {
    "sweep": hd_run.id,
    "best_run": best_run.id,
    "accuracy": best_accuracy,
    "arguments": arguments,
    "statuses": statuses,
    "model": model.id,
    "labels": y[-3:].tolist(),
    "predictions": prediction,
}
print(json.dumps(result))
if not args.keep:
    service.delete()
