"""A small Keras CNN in the style of the v1 hand-sign walkthrough, on a few classes of the
bundled 8x8 digits: logs loss and accuracy per epoch to the run, exports a SavedModel to
``outputs/model`` (what the TensorFlow scoring template's score.py loads).

    python train.py --data-folder data --classes 4 --epochs 15
"""

import argparse
import os

import numpy as np
import tensorflow as tf
from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", type=str, dest="data_folder", required=True)
parser.add_argument("--classes", type=int, default=4, help="train on digits 0..classes-1")
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--batch-size", type=int, dest="batch_size", default=32)
parser.add_argument("--learning-rate", type=float, dest="learning_rate", default=0.005)
args = parser.parse_args()


def load(split):
    folder = os.path.join(args.data_folder, "digits")
    x = np.load(os.path.join(folder, f"{split}-images.npy")).astype(np.float32)
    y = np.load(os.path.join(folder, f"{split}-labels.npy"))
    keep = y < args.classes
    return x[keep], y[keep]


X_train, y_train = load("train")
X_test, y_test = load("test")
print("train", X_train.shape, "test", X_test.shape)

run = Run.get_context()


class LogToRun(tf.keras.callbacks.Callback):
    """Send each epoch's metrics to the run (v1: run.log per epoch)."""

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            run.log(name, float(value))


tf.keras.utils.set_random_seed(0)
# raw 0..16 pixels in, as the TensorFlow scoring template sends them
inputs = tf.keras.Input(shape=(64,), name="data")
x = tf.keras.layers.Rescaling(1.0 / 16.0)(inputs)
x = tf.keras.layers.Reshape((8, 8, 1))(x)
x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
x = tf.keras.layers.MaxPooling2D(2)(x)
x = tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
x = tf.keras.layers.MaxPooling2D(2)(x)
x = tf.keras.layers.Flatten()(x)
x = tf.keras.layers.Dense(32, activation="relu")(x)
probs = tf.keras.layers.Dense(args.classes, activation="softmax", name="probs")(x)
model = tf.keras.Model(inputs, probs)
model.compile(
    optimizer=tf.keras.optimizers.Adam(args.learning_rate),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(
    X_train,
    y_train,
    epochs=args.epochs,
    batch_size=args.batch_size,
    validation_data=(X_test, y_test),
    callbacks=[LogToRun()],
    verbose=2,
)
test_loss, test_acc = model.evaluate(X_test, y_test, verbose=0)
run.log("test_loss", float(test_loss))
run.log("test_accuracy", float(test_acc))
print(f"test accuracy {test_acc:.4f}")

os.makedirs("outputs", exist_ok=True)
model.export(os.path.join("outputs", "model"))  # a TensorFlow SavedModel folder
