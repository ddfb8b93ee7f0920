"""Step 2: train a k-nearest-neighbours classifier, choosing k on a validation split.

python train.py --data DIR --model DIR [--kmax 7]
"""

import argparse
import os

import joblib
import numpy as np
from azureml.core import Run
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="the prepare step's output")
parser.add_argument("--model", required=True, help="PipelineData folder for the model")
parser.add_argument("--kmax", type=int, default=7)
args = parser.parse_args()

run = Run.get_context()
x = np.load(os.path.join(args.data, "x_train.npy"))
y = np.load(os.path.join(args.data, "y_train.npy"))
x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
best_k, best_acc = 1, -1.0
for k in range(1, args.kmax + 1, 2):
    acc = float(KNeighborsClassifier(n_neighbors=k).fit(x_fit, y_fit).score(x_val, y_val))
    run.log("validation_accuracy", acc)
    print(f"k={k} validation accuracy={acc:.4f}")
    if acc > best_acc:
        best_k, best_acc = k, acc
run.log("best_k", best_k)
model = KNeighborsClassifier(n_neighbors=best_k).fit(x, y)
os.makedirs(args.model, exist_ok=True)
joblib.dump(model, os.path.join(args.model, "model.pkl"))
os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.pkl")  # also in the run's outputs, for register_model
print(f"trained with k={best_k}")
