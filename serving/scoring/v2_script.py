"""A ``score.py`` that opts in to the Open Inference Protocol (V2) by defining ``run_v2``.

This opt-in is ours, not Azure's (Azure ML v1 scripts only have ``init()``/``run()``).
A script serves the V2 routes (``/v2/...``) besides ``/score`` when it defines, at module
level::

    def run_v2(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

``init()`` still runs first, once. ``run_v2`` gets the request's tensors by name as numpy
arrays (V2 datatypes mapped by :data:`serving.scoring.tensors.V2_TO_NUMPY`; ``BYTES`` as
object arrays of ``bytes``) and returns named array-likes (converted with
``numpy.asarray``); an exception it raises is a 500 ``{"error"}`` with the traceback in the
log. It may declare its signature, also at module level::

    V2_INPUTS = [{"name": "x", "datatype": "FP32", "shape": [-1, 64]}]
    V2_OUTPUTS = [{"name": "y", "datatype": "INT64", "shape": [-1]}]

With ``V2_INPUTS`` the server checks every request against it (all declared inputs present,
no others, shapes matching where not ``-1``) and casts numeric inputs to the declared
datatype; the model metadata lists them. Without it any named inputs are passed as sent
and the metadata lists ``inputs: []`` (it cannot know more); likewise ``V2_OUTPUTS``
(informational: the outputs are whatever ``run_v2`` returns). A malformed declaration
stops the server at start, naming the script. The model's V2 name is
``SERVING_MODEL_NAME`` (else the service name), its version ``SERVING_MODEL_VERSION``
(else none: only the version-less routes answer), its platform ``python_score``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.config import ServerSettings
from serving.scoring.exceptions import ScriptLoadError
from serving.scoring.loader import EntryScript
from serving.scoring.tensors import V2_TO_NUMPY, TensorModel, TensorSpec

if TYPE_CHECKING:
    import numpy as np

RUN_V2 = "run_v2"
INPUTS_DECLARATION = "V2_INPUTS"
OUTPUTS_DECLARATION = "V2_OUTPUTS"
PLATFORM = "python_score"


class ScriptTensorModel:
    """A script's ``run_v2`` as a :class:`~serving.scoring.tensors.TensorModel`."""

    def __init__(
        self,
        run_v2: Callable[[dict[str, Any]], Any],
        *,
        name: str,
        version: str,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
    ) -> None:
        self.name = name
        self.version = version
        self.platform = PLATFORM
        self.inputs = inputs
        self.outputs = outputs
        self._run_v2 = run_v2

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call ``run_v2``; its result must map output names to array-likes."""
        import numpy as np

        result = self._run_v2(dict(inputs))
        if not isinstance(result, Mapping):
            raise TypeError(f"run_v2 returned a {type(result).__name__}, not a dict of arrays")
        outputs: dict[str, np.ndarray] = {}
        for name, value in result.items():
            if not isinstance(name, str):
                raise TypeError(f"run_v2 returned an output named {name!r}: names are str")
            outputs[name] = value if isinstance(value, np.ndarray) else np.asarray(value)
        return outputs


def script_tensor_model(script: EntryScript, settings: ServerSettings) -> TensorModel | None:
    """The script's tensor model when it defines ``run_v2``; None otherwise.

    Raises :class:`ScriptLoadError` when ``run_v2`` is not a one-argument function or a
    declaration is malformed.
    """
    module = script.module
    run_v2 = getattr(module, RUN_V2, None)
    if run_v2 is None:
        return None
    _check_function(run_v2, script.path)
    return ScriptTensorModel(
        run_v2,
        name=settings.model_name or settings.service_name,
        version=settings.model_version,
        inputs=_declared(getattr(module, INPUTS_DECLARATION, None), INPUTS_DECLARATION, script),
        outputs=_declared(getattr(module, OUTPUTS_DECLARATION, None), OUTPUTS_DECLARATION, script),
    )


def _check_function(run_v2: Any, path: Path) -> None:
    if not callable(run_v2):
        raise ScriptLoadError(f"Entry script {path}: {RUN_V2} is not a function")
    try:
        params = list(inspect.signature(run_v2).parameters.values())
    except (TypeError, ValueError) as exc:
        raise ScriptLoadError(f"Entry script {path}: {RUN_V2}() has no readable signature") from exc
    required = [p for p in params if p.default is inspect.Parameter.empty and p.kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]  # fmt: skip
    if len(required) > 1 or not params:
        raise ScriptLoadError(
            f"Entry script {path}: {RUN_V2}() must take one argument, the dict of input arrays",
            hint="def run_v2(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]",
        )


def _declared(value: Any, attribute: str, script: EntryScript) -> tuple[TensorSpec, ...]:
    if value is None:
        return ()
    where = f"Entry script {script.path}: {attribute}"
    hint = f'{attribute} = [{{"name": "x", "datatype": "FP32", "shape": [-1, 4]}}]'
    if not isinstance(value, list | tuple):
        raise ScriptLoadError(f"{where} must be a list of dicts", hint=hint)
    specs: list[TensorSpec] = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) - {"name", "datatype", "shape"}:
            raise ScriptLoadError(f"{where}: {item!r} is not a dict of name, datatype and shape")
        name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
        if not isinstance(name, str) or not name:
            raise ScriptLoadError(f"{where}: {item!r} needs a non-empty str 'name'", hint=hint)
        if datatype not in V2_TO_NUMPY:
            raise ScriptLoadError(
                f"{where}: {name} has datatype {datatype!r}; one of {', '.join(V2_TO_NUMPY)}"
            )
        if not isinstance(shape, list | tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
        ):
            raise ScriptLoadError(f"{where}: {name} needs a 'shape' of ints (-1: any)", hint=hint)
        if any(spec.name == name for spec in specs):
            raise ScriptLoadError(f"{where}: {name} is declared twice")
        specs.append(TensorSpec(name, str(datatype), tuple(shape)))
    return tuple(specs)
