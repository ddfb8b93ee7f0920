"""run_v2 without declarations: every input comes back as an output of the same name
(datatype round trips); an input named ``fail`` makes it raise."""

import numpy as np


def init():
    pass


def run(data):
    return {"plain": True}


def run_v2(inputs):
    if "fail" in inputs:
        raise RuntimeError("asked to fail")
    return {name: np.asarray(value) for name, value in inputs.items()}
