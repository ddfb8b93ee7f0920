"""Shim of the ``azureml`` namespace used by Azure ML v1 entry scripts.

``extend_path`` keeps other installed ``azureml.*`` distributions (for example
``azureml.automl``) importable next to these shims.
"""

from __future__ import annotations

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
