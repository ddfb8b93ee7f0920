"""Errors of the load-test layer, in the platform's one hierarchy (``serving.errors``)."""

from __future__ import annotations

from serving.errors import DeploymentError, ServingError


class TargetError(DeploymentError):
    """The target cannot be resolved, reached or scored: found before any load starts."""


class LoadTestError(ServingError, http_status=500, exit_code=1):
    """locust itself failed (it did not start, crashed or wrote no statistics)."""


class SLOFailedError(ServingError, http_status=412, exit_code=8):
    """The run finished but a service-level objective does not hold (a CI gate failed)."""
