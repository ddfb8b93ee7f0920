"""Azure ML v1 style entry script for the scikit-learn digits model.

POST {"data": [[64 floats], ...]} -> [predicted digit, ...]
"""

import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

model = None


def init():
    global model
    # AZUREML_MODEL_DIR is the registered model's version folder (one model deployed)
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.pkl")
    model = joblib.load(model_path)
    print(f"loaded {model_path}")


@input_schema("data", NumpyParameterType(np.zeros((1, 64), dtype=np.float64)))
@output_schema(NumpyParameterType(np.array([0])))
def run(data):
    return model.predict(data).tolist()
