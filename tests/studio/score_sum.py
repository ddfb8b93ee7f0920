"""Sums each row of ``data`` (inference-schema with plain Python types: no numpy)."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("data", StandardPythonParameterType([[1.0, 2.0, 3.0]]))
@output_schema(StandardPythonParameterType([6.0]))
def run(data):
    return [sum(row) for row in data]
