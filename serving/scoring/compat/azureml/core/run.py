"""``azureml.core.run``: the platform's run.

Inside a submitted training run ``Run.get_context()`` is that run (metrics, tags and files
are recorded in the workspace); anywhere else (a deployment, a plain ``python train.py``)
it is v1's offline run, which prints what it would have logged and never raises.
"""

from __future__ import annotations

from serving.runs.offline import OfflineRun as _OfflineRun
from serving.sdk.run import Run

__all__ = ["Run", "_OfflineRun"]
