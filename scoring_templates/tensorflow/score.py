"""Azure ML v1 style entry script for a TensorFlow SavedModel (the digits Keras model).

POST {"data": [[64 floats], ...]} -> {"predictions": [...], "probabilities": [[...], ...]}
"""

import json
import os

import numpy as np
import tensorflow as tf

serve = None


def init():
    global serve
    model_dir = os.getenv("AZUREML_MODEL_DIR")
    # the registered SavedModel folder is the one entry of the model's version folder
    entries = os.listdir(model_dir)
    path = os.path.join(model_dir, entries[0]) if len(entries) == 1 else model_dir
    serve = tf.saved_model.load(path).signatures["serving_default"]
    print(f"loaded SavedModel {path}")


def run(raw_data):
    data = np.asarray(json.loads(raw_data)["data"], dtype=np.float32)
    outputs = serve(tf.constant(data))
    probs = next(iter(outputs.values())).numpy()
    return {
        "predictions": probs.argmax(axis=1).tolist(),
        "probabilities": np.round(probs, 4).tolist(),
    }
