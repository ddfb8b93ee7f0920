"""scikit-learn estimators and pipelines to ONNX with skl2onnx.

The graph takes one float32 input ``input`` of shape ``[None, n_features_in_]`` (a float64
input would build a double graph, which onnxruntime rejects with ZipMap); ZipMap is off, so
a classifier answers ``label`` and ``probabilities`` (a float tensor, one column per class
in ``classes_`` order) and a regressor ``variable``. Every estimator in the model (pipeline
steps, column transformers, feature unions) is checked against skl2onnx's converters first,
so an unsupported one is named in one line instead of a skl2onnx traceback.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.convert.source import need_extra, unsupported
from serving.errors import UserInputError
from serving.registry import ModelRecord

if TYPE_CHECKING:
    import numpy as np
    import onnx


def _parts(estimator: Any) -> Iterator[Any]:
    """``estimator`` and every estimator inside it."""
    yield estimator
    children: list[Any] = []
    for attr in ("steps", "transformer_list"):
        children += [step for _name, step in getattr(estimator, attr, None) or []]
    for item in getattr(estimator, "transformers_", None) or []:
        children.append(item[1])
    for child in children:
        if not isinstance(child, str) and child is not None:  # 'passthrough', 'drop'
            yield from _parts(child)


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class SklearnModel:
    """A loaded scikit-learn estimator (see :class:`serving.convert.source.Original`)."""

    labels = frozenset({"label"})

    def __init__(self, record: ModelRecord, estimator: Any) -> None:
        from sklearn.base import is_classifier

        self.record = record
        self.estimator = estimator
        self.converter = f"skl2onnx {importlib.metadata.version('skl2onnx')}"
        if is_classifier(estimator):
            has_proba = hasattr(estimator, "predict_proba")
            self.outputs: tuple[str, ...] = ("label", "probabilities") if has_proba else ("label",)
        else:
            self.outputs = ("variable",)
        n = getattr(estimator, "n_features_in_", None)
        self.input_shape: tuple[int | None, ...] = (int(n) if n is not None else None,)

    @classmethod
    def load(cls, record: ModelRecord, path: Path) -> SklearnModel:
        try:
            import joblib
            import skl2onnx  # noqa: F401  (fail early when the converter is missing)
        except ImportError as exc:
            raise need_extra(exc) from None
        try:
            estimator = joblib.load(path)
        except ImportError as exc:
            raise unsupported(
                record, f"its pickle needs module {exc.name!r}, which cannot be imported here"
            ) from None
        except Exception as exc:  # a broken pickle can raise anything
            raise unsupported(record, f"cannot load {path.name}: {_first_line(exc)}") from None
        if not hasattr(estimator, "predict"):
            raise unsupported(
                record, f"{_class_name(estimator)} has no predict() (classifiers and regressors)"
            )
        return cls(record, estimator)

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import numpy as np

        est = self.estimator
        out = {self.outputs[0]: np.asarray(est.predict(x))}
        if "probabilities" in self.outputs:
            out["probabilities"] = np.asarray(est.predict_proba(x))
        return out

    def _check_supported(self) -> None:
        from skl2onnx._supported_operators import sklearn_operator_name_map

        for part in _parts(self.estimator):
            if type(part) not in sklearn_operator_name_map:
                raise unsupported(self.record, f"skl2onnx has no converter for {_class_name(part)}")

    def _no_zipmap(self) -> dict[int, dict[str, bool]]:
        """ZipMap off for every classifier inside (the option is refused elsewhere)."""
        from sklearn.base import is_classifier

        return {
            id(p): {"zipmap": False}
            for p in _parts(self.estimator)
            if is_classifier(p) and not hasattr(p, "steps")
        }

    def to_onnx(self, opset: int) -> onnx.ModelProto:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
        from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator

        self._check_supported()
        n = self.input_shape[0]
        if n is None:
            raise unsupported(self.record, "the estimator has no n_features_in_ (is it fitted?)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                onx = convert_sklearn(
                    self.estimator,
                    initial_types=[("input", FloatTensorType([None, n]))],
                    target_opset=opset,
                    options=self._no_zipmap(),
                )
        except (MissingConverter, MissingShapeCalculator) as exc:
            raise unsupported(self.record, f"skl2onnx: {_first_line(exc)}") from None
        except Exception as exc:  # skl2onnx reports any converter failure as it likes
            raise unsupported(self.record, f"skl2onnx failed: {_first_line(exc)}") from None
        rename_outputs(onx, self.outputs)
        model: onnx.ModelProto = onx
        return model


def rename_outputs(model: onnx.ModelProto, names: tuple[str, ...]) -> None:
    """Name the graph's first outputs ``names`` (in place), wherever the old names occur."""
    graph = model.graph
    if len(graph.output) < len(names):
        raise UserInputError(
            f"the ONNX graph has {len(graph.output)} outputs; expected {', '.join(names)}"
        )
    for output, new in zip(graph.output, names, strict=False):
        old = output.name
        if old == new:
            continue
        output.name = new
        for node in graph.node:
            node.output[:] = [new if o == old else o for o in node.output]
            node.input[:] = [new if i == old else i for i in node.input]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
