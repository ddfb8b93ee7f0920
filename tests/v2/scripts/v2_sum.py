"""run_v2 with declared inputs and outputs: the row sums and the rows doubled."""

import numpy as np

V2_INPUTS = [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
V2_OUTPUTS = [
    {"name": "sum", "datatype": "FP32", "shape": [-1]},
    {"name": "double", "datatype": "FP32", "shape": [-1, 3]},
]


def init():
    pass


def run(data):
    return {"plain": True}


def run_v2(inputs):
    x = inputs["x"]
    assert x.dtype == np.float32
    return {"sum": x.sum(axis=1), "double": x * 2}
