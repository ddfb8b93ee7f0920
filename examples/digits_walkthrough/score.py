"""Entry script for the digits k-nearest-neighbours model (Azure ML v1 style).

POST {"data": [[64 pixel values 0..16], ...]} -> [predicted digit, ...]
"""

import json
import os

import joblib
import numpy as np


def init():
    global model
    # AZUREML_MODEL_DIR is the registered model's folder (one model deployed)
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "digits_knn_model.pkl")
    model = joblib.load(model_path)


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"], dtype=np.float64) / 16.0
    return model.predict(data).tolist()
