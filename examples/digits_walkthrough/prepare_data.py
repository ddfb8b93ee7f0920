"""Save scikit-learn's bundled 8x8 digits as .npy files (the walkthrough's data set).

Writes ``<output>/digits/{train,test}-{images,labels}.npy``: 64 pixel values (0..16) per
image, a fixed 75/25 split. Upload the folder to a datastore and point ``train.py``'s
``--data-folder`` at it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def prepare(output: str | Path) -> Path:
    """Write the four arrays into ``output/digits``; returns that folder."""
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype(np.float32), y, test_size=0.25, random_state=0, stratify=y
    )
    folder = Path(output) / "digits"
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in {
        "train-images": x_train,
        "train-labels": y_train,
        "test-images": x_test,
        "test-labels": y_test,
    }.items():
        np.save(folder / f"{name}.npy", array)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("data"))
    args = parser.parse_args()
    print(f"saved the digits data set in {prepare(args.output)}")


if __name__ == "__main__":
    main()
