"""Stand-ins for the Azure ML packages that unchanged ``score.py`` files import.

The server puts this folder (not its parent) at the front of ``sys.path`` before it loads an
entry script, so ``import azureml.core`` or ``from azureml.contrib.services.aml_response import
AMLResponse`` work in an image that has no Azure package installed. The modules are real
files, not ``sys.modules`` tricks, so tracebacks point at them.
"""

from __future__ import annotations

from pathlib import Path

COMPAT_DIR: Path = Path(__file__).resolve().parent
"""The folder to put on ``sys.path``: it holds the ``azureml`` shim package."""
