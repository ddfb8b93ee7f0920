"""Train the tutorial's temperature anomaly model (a decision tree on machine temperature,
machine pressure, ambient temperature and ambient humidity) on readings shaped like the
simulated sensor's, and save it as model.pkl.

    python examples/edge/train.py --output model.pkl
    serving models register model.pkl --name model.pkl
"""

from __future__ import annotations

import argparse
import random

import joblib
from sklearn import tree
from sklearn.model_selection import train_test_split


def readings(n: int, seed: int = 0) -> tuple[list[list[float]], list[int]]:
    """Normal readings around 21-31 degrees; one in five is an anomaly 30-60 degrees higher."""
    rng = random.Random(seed)
    rows, labels = [], []
    for i in range(n):
        machine = 21.0 + 0.05 * (i % 200) + rng.gauss(0, 0.3)
        anomaly = rng.random() < 0.2
        if anomaly:
            machine += rng.uniform(30, 60)
        rows.append([machine, machine * 0.07 + 1, 21 + rng.gauss(0, 0.4), rng.randint(24, 27)])
        labels.append(int(anomaly))
    return rows, labels


def train(output: str) -> float:
    rows, labels = readings(2000)
    split = train_test_split(rows, labels, test_size=0.35, random_state=0)
    x_train, x_test, y_train, y_test = split
    model = tree.DecisionTreeClassifier(random_state=0).fit(x_train, y_train)
    joblib.dump(model, output)
    return float(model.score(x_test, y_test))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="model.pkl")
    args = parser.parse_args()
    print(f"test accuracy {train(args.output):.3f}; saved {args.output}")
