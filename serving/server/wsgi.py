"""The gunicorn entry point: ``serving.server.wsgi:create_app()``.

gunicorn calls :func:`create_app` in each worker after the fork (never with ``--preload``:
TensorFlow and friends deadlock across fork). It reads the settings from the environment,
routes ``print()`` to the log, loads the entry script with the ``azureml`` shims on the
path and runs its ``init()`` before the worker accepts traffic, so requests made during
``init()`` wait for it. If loading or ``init()`` fails, the traceback and the model folder
are logged and the worker exits with code 3; gunicorn's master then stops with code 3
("Worker failed to boot"), like azmlinfsrv.

Once the app is built, :func:`gc.freeze` moves every object made so far (TensorFlow's
graph, a model's Python objects) out of the collector's reach: a full collection then
walks only what requests made, not hundreds of thousands of long-lived objects (measured:
300-450 ms pauses every few seconds of load with a Keras SavedModel, on every request
waiting in the worker).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

from flask import Flask

from serving.config import ServerSettings
from serving.scoring import Scorer
from serving.server import app as app_module
from serving.server.logs import configure_logging, describe_tree, route_prints_to_log
from serving.server.metrics import cache_process_id

WORKER_BOOT_ERROR = 3
"""Exit code of a worker whose entry script failed to load or init (gunicorn's code)."""

_log = logging.getLogger("serving.server")


def create_app() -> Flask:
    """Build the app of this worker from ``ServerSettings.from_env()``."""
    cache_process_id()  # before the scorer or the app make any metric
    settings = ServerSettings.from_env()
    configure_logging(settings.log_level)
    route_prints_to_log()
    try:
        scorer = Scorer.from_settings(settings)
        scorer.initialize()
        app = app_module.create_app(settings, scorer)
        gc.freeze()  # what init() loaded is kept for good: full collections skip it
        return app
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        _log.critical(
            "Worker %d failed to start the entry script %s/%s",
            os.getpid(),
            settings.app_root,
            settings.entry_script,
            exc_info=exc,
        )
        model_dir = settings.model_dir
        _log.critical("%s", describe_tree(Path(model_dir) if model_dir else None))
        sys.exit(WORKER_BOOT_ERROR)
