"""Train a small neural network (scikit-learn's MLPClassifier) on the digits bundled with
scikit-learn, one epoch at a time, logging the validation accuracy after each epoch: each
logged value is one interval for the sweep's early-termination policy.

    python train.py --hidden 32 --learning-rate 0.01
"""

import argparse
import os

import joblib
import numpy as np
from azureml.core import Run
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

parser = argparse.ArgumentParser()
parser.add_argument("--hidden", type=int, default=32, help="units in the hidden layer")
parser.add_argument("--learning-rate", type=float, default=0.001, help="Adam's step size")
parser.add_argument("--epochs", type=int, default=12, help="passes over the training data")
args = parser.parse_args()

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)

run = Run.get_context()
run.log("hidden", args.hidden)
run.log("learning_rate", args.learning_rate)
model = MLPClassifier(
    hidden_layer_sizes=(args.hidden,), learning_rate_init=args.learning_rate, random_state=0
)
for epoch in range(args.epochs):
    model.partial_fit(X_train, y_train, classes=np.arange(10))
    accuracy = float(model.score(X_val, y_val))
    print(f"epoch {epoch + 1}: accuracy {accuracy:.4f}", flush=True)
    run.log("accuracy", accuracy)

os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.pkl")
