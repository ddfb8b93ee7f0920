"""The scikit-learn digits classifier as ONNX (path in DIGITS_ONNX), served by onnxruntime
inside run_v2; /score takes {"data": [[64 floats], ...]}."""

import json
import os

import numpy as np
import onnxruntime

V2_INPUTS = [{"name": "float_input", "datatype": "FP32", "shape": [-1, 64]}]
V2_OUTPUTS = [
    {"name": "label", "datatype": "INT64", "shape": [-1]},
    {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
]
session = None


def init():
    global session
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(os.environ["DIGITS_ONNX"], options)


def run(raw_data):
    x = np.asarray(json.loads(raw_data)["data"], dtype=np.float32)
    label, _ = session.run(None, {session.get_inputs()[0].name: x})
    return label.tolist()


def run_v2(inputs):
    feeds = {session.get_inputs()[0].name: inputs["float_input"]}
    label, probabilities = session.run(None, feeds)
    return {"label": label, "probabilities": probabilities}
