"""Entry script for the swept digits classifier (Azure ML v1 style).

POST {"data": [[64 pixel values 0..16], ...]} -> [predicted digit, ...]
"""

import json
import os

import joblib
import numpy as np


def init():
    global model
    model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.pkl"))


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"], dtype=np.float64) / 16.0
    return model.predict(data).tolist()
