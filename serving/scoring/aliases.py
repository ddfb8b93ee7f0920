"""Import aliases for modules that old entry scripts import and their libraries removed.

``sklearn.externals.joblib`` was removed in scikit-learn 0.23; Azure ML's IoT Edge tutorial
(``iot_score.py``) does ``from sklearn.externals import joblib``. A finder at the front of
``sys.meta_path`` answers that name with a module that forwards to the standalone
``joblib`` (a separate module object, so ``joblib`` itself is left untouched). Only the
names listed here are touched; the real package is imported as usual otherwise.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any

ALIASES: dict[str, str] = {"sklearn.externals.joblib": "joblib"}
"""Removed module -> the module that replaced it."""


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in ALIASES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        target = importlib.import_module(ALIASES[spec.name])
        proxy = types.ModuleType(spec.name, target.__doc__)
        proxy.__dict__.update({k: v for k, v in vars(target).items() if not k.startswith("__")})

        def forward(name: str) -> Any:
            return getattr(target, name)

        proxy.__getattr__ = forward  # type: ignore[method-assign]
        return proxy

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def install_aliases() -> None:
    """Put the alias finder first on ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
