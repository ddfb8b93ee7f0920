"""inference-schema mode with a numpy array, a nested standard type and a defaulted number."""

import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("matrix", NumpyParameterType(np.zeros((2, 3), dtype=np.float64)))
@input_schema("options", StandardPythonParameterType({"scale": 1.0, "tags": ["a"]}))
@input_schema("count", StandardPythonParameterType(1))
@output_schema(StandardPythonParameterType({"rows": 2, "cols": 3, "count": 1}))
def run(matrix, options, count=1):
    assert isinstance(matrix, np.ndarray)
    assert isinstance(options, dict)
    return {"rows": int(matrix.shape[0]), "cols": int(matrix.shape[1]), "count": count}
