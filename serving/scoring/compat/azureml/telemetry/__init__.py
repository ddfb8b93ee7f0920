"""Shim of ``azureml.telemetry``: nothing is collected here, so the switch is a no-op."""

from __future__ import annotations

from typing import Any


def set_diagnostics_collection(send_diagnostics: bool = True, **_options: Any) -> None:
    """v1's telemetry switch: this platform sends nothing anywhere."""
    return None


__all__ = ["set_diagnostics_collection"]
