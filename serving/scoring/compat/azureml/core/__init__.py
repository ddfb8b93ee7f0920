"""Shim of ``azureml.core``: the parts an entry script uses inside a deployment."""

from __future__ import annotations

from .model import Model
from .run import Run

__all__ = ["Model", "Run"]
