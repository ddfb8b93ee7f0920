"""What the studio's pages fetch with the session cookie (the API wants a bearer token,
which a page does not hold): a run's metric series (downsampled, for the charts), its log
from an offset (for the tail), and its files. Each is the API's own view function, called
under the studio's guard, so both answer the same and nothing is implemented twice.
"""

from __future__ import annotations

from flask import Blueprint, Response

from serving.hub import api_runs

bp = Blueprint("data", __name__, url_prefix="/data")


@bp.get("/runs/<run_id>/metrics")
def metrics(run_id: str) -> Response:
    return api_runs.run_metrics(run_id)


@bp.get("/runs/<run_id>/log")
def log(run_id: str) -> Response:
    return api_runs.run_log(run_id)


@bp.get("/runs/<run_id>/file")
def file(run_id: str) -> Response:
    return api_runs.run_file(run_id)
