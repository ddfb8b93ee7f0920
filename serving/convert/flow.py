"""``models convert``: convert a registered version to ONNX, gate it, register the result.

Steps: download the version into a temporary folder, load it, answer the sample with it,
convert it (or read an ONNX file converted elsewhere), answer the same sample with
onnxruntime, compare (:mod:`serving.convert.parity`), and only when the gate passes register
the ``.onnx`` file as the next version of the same name with framework ``onnx``. The
registry's own atomic ``register`` writes the version, so a failed gate or a kill leaves
nothing behind. Lineage and the report live in the new version's properties (:data:`KEYS`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from serving.convert import onnxrun, parity, source
from serving.errors import UserInputError
from serving.registry import ModelRecord, ModelRegistry, Ref

if TYPE_CHECKING:
    import numpy as np
    import onnx

CONVERTED_FROM = "converted_from"
CONVERTER = "converter"
OPSET = "onnx_opset"
ORT_VERSION = "onnxruntime_version"
IO_NAMES = "onnx_io"
PARITY = "parity_report"
KEYS = (CONVERTED_FROM, CONVERTER, OPSET, ORT_VERSION, IO_NAMES, PARITY)
"""Properties of a converted version: source ``name:version``; ``skl2onnx 1.20.0`` (or
``external``); the ai.onnx opset; the onnxruntime that ran the gate; ``{"inputs": [...],
"outputs": [...]}`` as JSON; the parity report as JSON."""

DEFAULT_OPSET = 17
"""Old enough for the onnxruntime of most serving images, new enough for every converter."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConvertOptions:
    """How to convert and how strict the gate is (see ``serving models convert --help``)."""

    atol: float = 1e-5
    rtol: float = 1e-5
    sample: Path | None = None
    """Rows to compare on; None: synthesise :attr:`rows` rows from the input shape."""
    rows: int = 100
    opset: int = DEFAULT_OPSET
    onnx_file: Path | None = None
    """An ONNX file converted elsewhere: gated and registered instead of converting here."""

    def check(self) -> None:
        if not (self.atol >= 0 and self.rtol >= 0):
            raise UserInputError("--atol and --rtol must be zero or more")
        if not 1 <= self.rows <= 1_000_000:
            raise UserInputError("--rows must be between 1 and 1000000")
        if not 7 <= self.opset <= 25:
            raise UserInputError("--opset must be between 7 and 25")


@dataclass(frozen=True)
class Converted:
    record: ModelRecord
    report: parity.ParityReport


def convert(
    registry: ModelRegistry,
    ref: Ref,
    options: ConvertOptions,
    progress: Progress | None = None,
) -> Converted:
    """Convert ``ref`` to ONNX, gate it and register it; raise before registering anything."""
    show = progress or (lambda _line: None)
    options.check()
    record = registry.get(ref)
    source.check_convertible(record)
    with tempfile.TemporaryDirectory(prefix="serving-convert-") as tmp:
        folder = Path(tmp)
        show(f"loading {record.ref} ({record.framework})")
        path = registry.download(Ref(record.name, record.version), folder / "in", durable=False)
        original = source.load(record, path)
        x, sample_name = _sample(original, options)
        want = original.predict(x)
        if options.onnx_file is not None:
            show(f"reading {options.onnx_file}")
            model = onnxrun.read_onnx(options.onnx_file)
            converter = "external"
        else:
            show(f"converting with {original.converter} (opset {options.opset})")
            model = original.to_onnx(options.opset)
            converter = original.converter
        show(f"checking {len(x)} rows with onnxruntime {onnxrun.ort_version()}")
        got = onnxrun.run(model, x, original.outputs)
        tolerance = parity.Tolerance(options.atol, options.rtol)
        report = parity.compare(want, got, original.labels, tolerance, sample=sample_name)
        if not report.passed:
            raise parity.ParityError(
                f"{record.ref} converted to ONNX fails the parity check: "
                f"{parity.failure_message(report)}; nothing registered",
                hint="loosen --atol/--rtol only if the difference is acceptable",
            )
        show(f"registering the ONNX model as the next version of {record.name}")
        onnx_path = folder / "model.onnx"
        onnx_path.write_bytes(model.SerializeToString())
        properties = _properties(record, model, converter, original.outputs, report)
        new = registry.register(
            onnx_path,
            record.name,
            properties=properties,
            description=f"ONNX conversion of {record.ref}",
            framework="onnx",
            framework_version=_onnx_version(),
            run_id=record.run_id,
        )
    return Converted(new, report)


def _sample(original: source.Original, options: ConvertOptions) -> tuple[np.ndarray, str]:
    if options.sample is not None:
        return parity.load_sample(options.sample, original.input_shape), options.sample.name
    x = parity.synthesise(original.input_shape, options.rows)
    return x, "a synthesised sample (standard normal, seed 0)"


def _properties(
    record: ModelRecord,
    model: onnx.ModelProto,
    converter: str,
    outputs: tuple[str, ...],
    report: parity.ParityReport,
) -> dict[str, str]:
    io = {
        "inputs": [i.name for i in model.graph.input],
        "outputs": [o.name for o in model.graph.output],
        "compared": list(outputs),
    }
    return {
        CONVERTED_FROM: record.ref,
        CONVERTER: converter,
        OPSET: str(onnxrun.opset_of(model)),
        ORT_VERSION: onnxrun.ort_version(),
        IO_NAMES: json.dumps(io),
        PARITY: report.to_json(),
    }


def _onnx_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("onnx")
    except importlib.metadata.PackageNotFoundError:
        return None
