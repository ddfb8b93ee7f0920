"""The Azure ML v1 scoring contract (score.py, its input modes, the azureml shims, the app
folder, headers and error bodies) tested in this process: no gunicorn here. Behaviour that
needs a real server process (workers, keep-alive, timeouts, signals) is in tests/server."""

from __future__ import annotations

from tests.inprocess import _isolate_loaded_scripts, app_client_for, client_for, scripts_dir

__all__ = ["_isolate_loaded_scripts", "app_client_for", "client_for", "scripts_dir"]
