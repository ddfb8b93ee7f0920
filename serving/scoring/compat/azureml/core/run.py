"""``azureml.core.run``: the platform's run.

Inside a submitted training run ``Run.get_context()`` is that run (metrics, tags and files
are recorded in the workspace); anywhere else (a plain ``python train.py``) it is v1's
offline run, which prints what it would have logged and never raises. A deployment image
carries only the serving runtime, not the SDK: there ``Run`` is the offline one alone.
"""

from __future__ import annotations

from typing import Any

from serving.scoring.offline_run import OfflineRun as _OfflineRun

try:
    from serving.sdk.run import Run
except ImportError:  # a deployment image: scoring and server only

    class Run:  # type: ignore[no-redef]
        """Runs inside a deployment are offline."""

        @classmethod
        def get_context(cls, allow_offline: bool = True, **kwargs: Any) -> _OfflineRun:
            return _OfflineRun()


__all__ = ["Run", "_OfflineRun"]
