"""The one mechanism of the v1 import paths (``azureml.core.compute``,
``azureml.train.hyperdrive``, ...): a module ``__getattr__`` that takes the named classes
from the platform's module on first use, so a deployment image whose ``score.py`` never
touches them does not import the SDK."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

_PREFIX = "serving.scoring.compat."


def forward(shim: str, target: str, names: Iterable[str]) -> Callable[[str], Any]:
    """``__getattr__`` for module ``shim``: each of ``names`` is ``target``'s."""
    known = frozenset(names)
    v1_name = shim.removeprefix(_PREFIX)

    def __getattr__(name: str) -> Any:
        if name in known:
            return getattr(importlib.import_module(target), name)
        raise AttributeError(f"module {v1_name!r} has no attribute {name!r}")

    return __getattr__
