"""The scoring call as plain functions: bind the request, call run(), encode the result.

No HTTP here (the server adapts requests and responses); see :mod:`serving.scoring.inputs`
for binding and :mod:`serving.scoring.runner` for the timeout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from pathlib import Path
from types import GeneratorType
from typing import Any, NamedTuple, TypeGuard

from serving.config import ServerSettings
from serving.scoring.exceptions import (
    RUN_FAILURES,
    InitFailedError,
    ResultNotSerializableError,
)
from serving.scoring.inputs import ScoringInput, bind_arguments
from serving.scoring.loader import EntryScript, InputMode, install_compat_path, load_entry_script
from serving.scoring.runner import RunCaller
from serving.scoring.tensors import TensorModel

_log = logging.getLogger("serving.scoring")


class ScoringResult(NamedTuple):
    """What run() returned and how long it took."""

    value: Any
    elapsed_ms: float


class Scorer:
    """One loaded entry script, ready to be initialised once and called per request."""

    def __init__(
        self,
        script: EntryScript,
        *,
        timeout_ms: int = 0,
        tensor_model: TensorModel | None = None,
    ) -> None:
        self.script = script
        self.tensor_model = tensor_model
        """The model as named tensors (V2 routes, batching): a no-code deployment's model,
        or a ``score.py`` that defines ``run_v2``; None otherwise. Usable after init()."""
        self._caller = RunCaller(timeout_ms)
        self._ready = False

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Scorer:
        """Load what the settings name: the platform's no-code scorer for
        ``nocode_framework``, else the entry script (with the ``azureml`` shims installed)."""
        if settings.nocode_framework:
            from serving.scoring.nocode import load_nocode

            script, nocode_model = load_nocode(settings)
            return cls(script, timeout_ms=settings.scoring_timeout_ms, tensor_model=nocode_model)
        install_compat_path()
        script = load_entry_script(Path(settings.app_root), settings.entry_script)
        from serving.scoring.v2_script import script_tensor_model

        model = script_tensor_model(script, settings)
        return cls(script, timeout_ms=settings.scoring_timeout_ms, tensor_model=model)

    @property
    def mode(self) -> InputMode:
        """The input mode of run()."""
        return self.script.mode

    @property
    def ready(self) -> bool:
        """init() has completed in this process."""
        return self._ready

    @property
    def timeout_ms(self) -> int:
        """The scoring timeout (0: none)."""
        return self._caller.timeout_ms

    def allow_concurrent_runs(self) -> None:
        """Call run() from request threads at once, without the per-process lock and the
        timeout thread: for a no-code scorer whose model calls go through the batcher,
        which makes them one at a time and keeps each request's deadline."""
        self._caller.concurrent = True

    def initialize(self) -> None:
        """Call the script's init() once; raises :class:`InitFailedError` if it fails."""
        _log.info("Calling init() of %s", self.script.path)
        try:
            self.script.init()
        except (Exception, SystemExit) as exc:
            raise InitFailedError(
                f"init() of entry script {self.script.path} raised {type(exc).__name__}: {exc}"
            ) from exc
        self._ready = True
        _log.info("init() completed")

    def score(self, inp: ScoringInput) -> ScoringResult:
        """Bind ``inp`` to run()'s arguments and call it under the timeout.

        Raises the :class:`~serving.scoring.exceptions.ScoringError` subclasses: input
        errors before run(), :class:`RunFailedError` (with the script's exception chained)
        or :class:`ScoringTimeoutError`.
        """
        kwargs = bind_arguments(self.script, inp)
        # ScoringErrors (the timeout, bad input found by a no-code run()) pass through
        with RUN_FAILURES:
            value, elapsed_ms = self._caller.call(self.script.run, kwargs)
        return ScoringResult(value, elapsed_ms)


def _numpy_default(value: Any) -> Any:
    # numpy arrays and scalars both have tolist(); checked by module to avoid importing numpy
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_result(value: Any) -> bytes:
    """run()'s result as the response body, with ``json.dumps`` semantics.

    ``None`` gives ``{}``, a str gives a JSON string, numpy arrays and scalars become lists
    and numbers. Anything else that cannot be encoded raises
    :class:`ResultNotSerializableError`.
    """
    if value is None:
        return b"{}"
    try:
        return json.dumps(value).encode()
    except (TypeError, ValueError):
        pass
    try:
        return json.dumps(value, default=_numpy_default).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise ResultNotSerializableError() from exc


def is_stream(value: Any) -> TypeGuard[Generator[Any, Any, Any]]:
    """run() returned a generator: its chunks are streamed as they come."""
    return isinstance(value, GeneratorType)
