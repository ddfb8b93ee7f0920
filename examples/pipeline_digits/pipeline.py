"""The digits pipeline written against Azure ML v1's pipeline SDK: prepare -> train ->
evaluate, connected by PipelineData. Only the import lines differ from v1.

    python examples/pipeline_digits/pipeline.py [--kmax 7] [--regenerate-outputs]

Run it twice: the second time every step is reused (nothing runs) and the pipeline ends
in about a second. Edit steps/train/train.py and only train and evaluate run again.
"""

import argparse
import json
import os

# v1: from azureml.core import Workspace, Experiment
#     from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter
#     from azureml.pipeline.steps import PythonScriptStep
from serving.sdk import Experiment, Workspace
from serving.sdk.pipeline import Pipeline, PipelineData, PipelineParameter, PythonScriptStep

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser(description="the digits pipeline")
parser.add_argument("--kmax", type=int, default=None, help="override the kmax parameter")
parser.add_argument("--regenerate-outputs", action="store_true", help="run every step")
args = parser.parse_args()

try:
    ws = Workspace.from_config()
except Exception:
    ws = Workspace.create(name="digits-pipeline")
datastore = ws.get_default_datastore()

digits = PipelineData("digits", datastore=datastore)
model = PipelineData("model", datastore=datastore)
report = PipelineData("report", datastore=datastore)
kmax = PipelineParameter(name="kmax", default_value=7)

prepare = PythonScriptStep(
    script_name="prepare.py",
    name="prepare",
    arguments=["--output", digits],
    outputs=[digits],
    compute_target="local",
    source_directory=os.path.join(here, "steps", "prepare"),
)
train = PythonScriptStep(
    script_name="train.py",
    name="train",
    arguments=["--data", digits, "--model", model, "--kmax", kmax],
    inputs=[digits],
    outputs=[model],
    compute_target="local",
    source_directory=os.path.join(here, "steps", "train"),
    allow_reuse=True,
)
evaluate = PythonScriptStep(
    script_name="evaluate.py",
    name="evaluate",
    arguments=["--data", digits, "--model", model, "--report", report],
    inputs=[digits, model],
    outputs=[report],
    compute_target="local",
    source_directory=os.path.join(here, "steps", "evaluate"),
)

pipeline = Pipeline(workspace=ws, steps=[evaluate])  # resolve_closure adds prepare and train
problems = pipeline.validate()
assert not problems, problems
parameters = {} if args.kmax is None else {"kmax": args.kmax}
for line in pipeline.explain(pipeline_parameters=parameters):
    print(f"{line['step']:>9}: {line['decision']:<6} {line['reason']}")

run = Experiment(ws, "digits-pipeline").submit(
    pipeline, pipeline_parameters=parameters, regenerate_outputs=args.regenerate_outputs
)
run.wait_for_completion()  # shows output by default, as in v1

for step in run.get_steps():
    reused = f" (reused {step.reused_run_id})" if step.reused_run_id else ""
    print(f"{step.display_name}: {step.get_status()}{reused}")
evaluate_run = run.find_step_run("evaluate")[0]
report_folder = evaluate_run.get_output_data("report").local_path
print("report:", json.loads((report_folder / "report.json").read_text()))
