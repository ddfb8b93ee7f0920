"""Train a LogisticRegression on scikit-learn's bundled 8x8 digits and save it with joblib.

Submitted as a run (``serving runs submit``) it logs its test accuracy to the run; run with
plain ``python`` it only prints it.
"""

import argparse
from pathlib import Path

import joblib
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

try:  # inside a run the platform's azureml shim is importable
    from azureml.core import Run
except ImportError:  # plain python: nothing to log into
    Run = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("outputs/model.pkl"))
    args = parser.parse_args()
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    model = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.output)
    accuracy = model.score(x_test, y_test)
    if Run is not None:
        Run.get_context().log("accuracy", accuracy)
    print(f"test accuracy {accuracy:.3f}; saved {args.output}")


if __name__ == "__main__":
    main()
