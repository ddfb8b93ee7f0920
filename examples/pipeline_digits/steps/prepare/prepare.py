"""Step 1: split scikit-learn's bundled 8x8 digits into train and test arrays.

python prepare.py --output DIR [--test-size 0.25]
"""

import argparse
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--output", required=True, help="PipelineData folder to write")
parser.add_argument("--test-size", type=float, default=0.25)
args = parser.parse_args()

x, y = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(
    x.astype(np.float32) / 16.0, y, test_size=args.test_size, random_state=0, stratify=y
)
os.makedirs(args.output, exist_ok=True)  # v1: the producer creates its output folder
arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
for name, array in arrays.items():
    np.save(os.path.join(args.output, f"{name}.npy"), array)
print(f"prepared {len(x_train)} training and {len(x_test)} test digits in {args.output}")
