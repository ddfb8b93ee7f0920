"""No-code scoring: the platform's own scorer for ONNX, scikit-learn and TensorFlow models.

A deployment without an entry script (``SERVING_NOCODE_FRAMEWORK`` set) is served by a
:class:`NocodeModel`: its ``init()`` finds the model file in ``AZUREML_MODEL_DIR`` and loads
it with the framework's runtime (imported only for the framework in use: onnxruntime images
carry no scikit-learn), its ``run()`` answers ``/score`` the way Azure ML's no-code
deployments did (:mod:`serving.scoring.nocode.body`), and it is the deployment's
:class:`~serving.scoring.tensors.TensorModel` for the V2 routes and the batcher.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.config import ServerSettings
from serving.errors import UserInputError
from serving.scoring.batching import batching_enabled
from serving.scoring.loader import EntryScript, InputMode
from serving.scoring.nocode import files
from serving.scoring.nocode.body import Reply, infer_reply, outputs_reply, parse_body, reply_for
from serving.scoring.tensors import TensorModel, TensorSpec

if TYPE_CHECKING:
    import numpy as np

FRAMEWORKS = ("onnx", "sklearn", "tensorflow")
"""The frameworks a no-code deployment can serve."""

PLATFORMS = {
    "onnx": "onnx_onnxv1",
    "sklearn": "sklearn_joblib",
    "tensorflow": "tensorflow_savedmodel",
}


class NocodeModel:
    """The no-code scorer of one deployment: init() and run() for ``/score``, and the
    tensor model (its signature is known once init() has loaded the model)."""

    def __init__(self, settings: ServerSettings) -> None:
        framework = settings.nocode_framework
        if framework not in FRAMEWORKS:
            raise UserInputError(
                f"no-code framework {framework!r} is not one of {', '.join(FRAMEWORKS)}"
            )
        self.framework = framework
        self.settings = settings
        self.name = settings.model_name or "model"
        self.version = settings.model_version or "1"
        self.platform = PLATFORMS[framework]
        self.inputs: tuple[TensorSpec, ...] = ()
        self.outputs: tuple[TensorSpec, ...] = ()
        self.path: Path | None = None
        self._model: Any = None
        self._reply: Reply | None = None
        self.batched_reply: Reply | None = None
        """With a batcher: the batch's outputs for one request (a dict of arrays) as what
        run() returns; built once, for the event-loop worker's second half
        (:mod:`serving.scoring.batching_submit`)."""
        self._batched: TensorModel | None = None

    def init(self) -> None:
        """Find and load the model; fill in the signature."""
        root = files.model_root(self.settings.model_dir, self.name, self.version)
        self._model = self._load(root)
        self.inputs = tuple(self._model.inputs)
        self.outputs = tuple(self._model.outputs)
        self._reply = self._make_reply()

    def use_batcher(self, batched: TensorModel) -> None:
        """(BatchAware) From now on ``/score`` calls the model through ``batched``, the
        dynamic batching wrapper (:mod:`serving.scoring.batching`)."""
        self._batched = batched
        if self._model is not None:
            self._reply = self._make_reply()

    def _make_reply(self) -> Reply:
        if self._batched is None:
            return reply_for(self._model)
        self.batched_reply = outputs_reply(self.outputs)
        return infer_reply(self.outputs, self._batched.infer)

    def _load(self, root: Path) -> Any:
        batching = batching_enabled(self.settings)
        if self.framework == "onnx":
            from serving.scoring.nocode.onnx import OnnxModel

            self.path = files.find_file(root, files.ONNX_SUFFIXES, "ONNX model (*.onnx)")
            return OnnxModel(
                self.path, self.name, self.version, self.settings.workers, batching=batching
            )
        if self.framework == "sklearn":
            from serving.scoring.nocode.sklearn import SklearnModel

            self.path = files.find_file(
                root, files.SKLEARN_SUFFIXES, "scikit-learn model (*.pkl, *.joblib)"
            )
            return SklearnModel(self.path, self.name, self.version)
        from serving.scoring.nocode.tensorflow import TensorflowModel

        self.path = files.find_saved_model(root)
        return TensorflowModel(
            self.path, self.name, self.version, self.settings.workers, batching=batching
        )

    def run(self, data: str) -> Any:
        """``/score``: the body's rows in, the predictions out (see :mod:`.body`)."""
        reply = self._reply
        if reply is None:
            raise RuntimeError("run() before init()")
        return reply(parse_body(data, self.inputs))

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's outputs for ``inputs`` (TensorModel)."""
        if self._model is None:
            raise RuntimeError("infer() before init()")
        return self._model.infer(inputs)  # type: ignore[no-any-return]


_DATA_PARAM = inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD)


def load_nocode(settings: ServerSettings) -> tuple[EntryScript, TensorModel]:
    """The entry script (init/run serving ``/score``) and tensor model of a no-code deployment.

    init() loads the model found in ``settings.model_dir`` for ``settings.nocode_framework``.
    """
    model = NocodeModel(settings)
    where = settings.model_dir or Path(".")
    script = EntryScript(
        path=Path(where) / f"<no-code {model.framework} scorer>",
        module=sys.modules[__name__],
        init=model.init,
        run=model.run,
        mode=InputMode.PLAIN,
        input_params=(_DATA_PARAM,),
        wants_headers=False,
    )
    return script, model
