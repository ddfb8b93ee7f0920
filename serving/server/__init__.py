"""The scoring server that runs inside model images (Flask under gunicorn).

Imports only :mod:`serving.scoring`, :mod:`serving.config` and :mod:`serving.errors` from
the platform: the CLI, registry and docker do not exist in a model image.
"""

from __future__ import annotations

from serving.server.gunicorn import gunicorn_argv, gunicorn_env

__all__ = ["gunicorn_argv", "gunicorn_env"]
