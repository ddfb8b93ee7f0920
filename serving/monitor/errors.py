"""Errors of the drift monitor, in the platform's one hierarchy (``serving.errors``)."""

from __future__ import annotations

from serving.errors import ServingError

DRIFT_EXIT_CODE = 9
"""``serving monitor drift --fail-on-drift`` exits with this when a feature drifted (2 is
bad input, 3 a missing endpoint or data, 8 a load test's failed objective)."""


class DriftDetectedError(ServingError, http_status=412, exit_code=DRIFT_EXIT_CODE):
    """The report was written and at least one feature drifted (a CI gate failed)."""
