"""Step 3: score the trained model on the held-out test digits.

python evaluate.py --data DIR --model DIR --report DIR
"""

import argparse
import json
import os

import joblib
import numpy as np
from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--report", required=True, help="PipelineData folder for the report")
args = parser.parse_args()

model = joblib.load(os.path.join(args.model, "model.pkl"))
x_test = np.load(os.path.join(args.data, "x_test.npy"))
y_test = np.load(os.path.join(args.data, "y_test.npy"))
accuracy = float(model.score(x_test, y_test))
Run.get_context().log("test_accuracy", accuracy)
os.makedirs(args.report, exist_ok=True)
with open(os.path.join(args.report, "report.json"), "w") as fh:
    json.dump({"test_accuracy": accuracy, "n_test": len(y_test)}, fh)
print(f"test accuracy {accuracy:.4f}")
