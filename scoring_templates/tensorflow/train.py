"""Train a small Keras model on scikit-learn's bundled 8x8 digits; export a SavedModel.

The model rescales its raw 0..16 pixel input itself, so it takes the same JSON as the
scikit-learn template.
"""

import argparse
from pathlib import Path

import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("outputs/digits-savedmodel"))
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype("float32"), y, test_size=0.25, random_state=0
    )
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(shape=(64,), name="data")
    scaled = tf.keras.layers.Rescaling(1.0 / 16.0)(inputs)
    hidden = tf.keras.layers.Dense(32, activation="relu")(scaled)
    probs = tf.keras.layers.Dense(10, activation="softmax", name="probs")(hidden)
    model = tf.keras.Model(inputs, probs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    model.export(str(args.output))  # a TensorFlow SavedModel folder
    print(f"test accuracy {accuracy:.3f}; saved {args.output}")


if __name__ == "__main__":
    main()
