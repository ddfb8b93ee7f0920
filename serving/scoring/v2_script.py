"""A ``score.py`` that opts in to the Open Inference Protocol (V2) by defining ``run_v2``.

(Stub: to be written.)
"""

from __future__ import annotations

from serving.config import ServerSettings
from serving.scoring.loader import EntryScript
from serving.scoring.tensors import TensorModel


def script_tensor_model(script: EntryScript, settings: ServerSettings) -> TensorModel | None:
    """The script's tensor model when it defines ``run_v2``; None otherwise."""
    return None
