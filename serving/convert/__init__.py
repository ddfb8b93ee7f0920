"""Converting registered models to ONNX behind a parity gate (``serving models convert``).

scikit-learn models go through skl2onnx (:mod:`serving.convert.sklearn`), TensorFlow/Keras
models through tf2onnx (:mod:`serving.convert.keras`); :mod:`serving.convert.parity`
compares the converted model with the original and :mod:`serving.convert.flow` registers
the result as a new version. The converters are imported only when a conversion runs.
"""

from serving.convert.flow import KEYS, PARITY, Converted, ConvertOptions, convert
from serving.convert.parity import ParityError, ParityReport, describe

__all__ = [
    "KEYS",
    "PARITY",
    "ConvertOptions",
    "Converted",
    "ParityError",
    "ParityReport",
    "convert",
    "describe",
]
