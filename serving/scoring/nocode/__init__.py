"""No-code scoring: the platform's own scorer for ONNX, scikit-learn and TensorFlow models.

(Stub: to be written.)
"""

from __future__ import annotations

from serving.config import ServerSettings
from serving.scoring.loader import EntryScript
from serving.scoring.tensors import TensorModel


def load_nocode(settings: ServerSettings) -> tuple[EntryScript, TensorModel]:
    """The entry script (init/run serving ``/score``) and tensor model of a no-code deployment.

    init() loads the model found in ``settings.model_dir`` for ``settings.nocode_framework``.
    """
    raise NotImplementedError("no-code scoring is not written yet")
