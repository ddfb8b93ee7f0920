"""What the serving runtime itself needs inside every deployment environment.

These requirements are installed next to the user's own requirements (they are not
part of :attr:`EnvSpec.requirements`). They still enter every environment's content
hash through :data:`RUNTIME_VERSION` and the list itself, so changing the runtime
gives every environment a new hash and a rebuild.
"""

from __future__ import annotations

RUNTIME_REQUIREMENTS: tuple[str, ...] = (
    "flask>=2.2",
    "gunicorn>=26.2",  # wsgi.create(response_class=), Response._emit_body (KeepAliveWorker)
    "inference-schema>=1.7",
    "prometheus-client>=0.20",
    "orjson>=3.9",  # V2 tensors and no-code bodies: 5-10x the stdlib's speed on number arrays
)
"""Packages the scoring server imports (the Azure ``azureml-defaults`` replacement)."""

RUNTIME_VERSION = "1"
"""Bump when the runtime changes in a way the requirement list does not show."""


def runtime_requirements() -> list[str]:
    """The runtime's pip requirement lines, installed in every deployment environment."""
    return list(RUNTIME_REQUIREMENTS)
