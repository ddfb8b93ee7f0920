"""The app factory: a Flask app over one open workspace, nothing done at import.

Every route is under :data:`API`; errors are JSON (:mod:`serving.hub.errors`) and every
call but the OpenAPI document needs a token (:mod:`serving.hub.auth`).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

from serving.hub import (
    api_endpoints,
    api_environments,
    api_models,
    api_run_writes,
    api_runs,
    auth,
    errors,
)
from serving.hub.context import KEY, Hub
from serving.hub.openapi import document
from serving.hub.studio import web as studio
from serving.workspace import Workspace

API = "/api/v1"


def create_app(ws: Workspace) -> Flask:
    app = Flask("serving.hub")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    hub = Hub.of(ws)
    app.extensions[KEY] = hub
    errors.install(app, ws.path)
    auth.install(app, hub.tokens)
    blueprints = (api_runs.bp, api_run_writes.bp, api_models.bp, api_environments.bp)
    for blueprint in (*blueprints, api_endpoints.bp):
        app.register_blueprint(blueprint, url_prefix=API)
    studio.register(app)

    @app.get(f"{API}/workspace")
    def workspace() -> Response:
        shown = ws.describe()  # the folder's paths stay on the server
        return jsonify({k: shown[k] for k in ("name", "models", "environments", "endpoints")})

    @app.get(f"{API}/openapi.json")
    def openapi() -> Response:
        return jsonify(document())

    return app
