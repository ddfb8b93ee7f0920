"""Responses checked against the vendored Open Inference Protocol OpenAPI document.

The document (``open_inference_rest.yaml``, see SOURCE.md) is adapted in memory: its path
parameters are spelled ``${MODEL_NAME}``, and it lists only the ``/versions/{v}`` forms
and ``/v2/``; the version-less forms and ``/v2`` get the same operations. Statuses the
document does not list (404, 405, 503 ...) are checked for the protocol's error object.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

DOCUMENT = Path(__file__).resolve().parent / "open_inference_rest.yaml"
VERSIONED = "/versions/{MODEL_VERSION}"


@functools.cache
def protocol() -> OpenAPI:
    spec: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        path = path.replace("${", "{")
        paths[path] = item
        if VERSIONED in path:
            unversioned = copy.deepcopy(item)
            unversioned["parameters"] = [
                p for p in item.get("parameters", []) if p["name"] != "MODEL_VERSION"
            ]
            paths[path.replace(VERSIONED, "")] = _renamed(unversioned, "-unversioned")
    paths["/v2"] = _renamed(copy.deepcopy(paths["/v2/"]), "-no-slash")
    spec["paths"] = paths
    spec["servers"] = [{"url": "http://127.0.0.1:{port}", "variables": {"port": {"default": "80"}}}]
    return OpenAPI.from_dict(spec)


def _renamed(item: dict[str, Any], suffix: str) -> dict[str, Any]:
    """Operation ids are unique in a document: the added paths' get a suffix."""
    for operation in item.values():
        if isinstance(operation, dict) and "operationId" in operation:
            operation["operationId"] += suffix
    return item


def check(response: requests.Response) -> Any:
    """Validate ``response`` (and its request) against the protocol; its JSON body."""
    body = response.json()
    if response.status_code in _listed(response):
        request = RequestsOpenAPIRequest(response.request)
        protocol().validate_response(request, RequestsOpenAPIResponse(response))
    else:
        assert response.status_code >= 400, response.status_code
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str), body
    return body


def _listed(response: requests.Response) -> set[int]:
    path = requests.utils.urlparse(response.request.url).path
    if path.endswith("/infer") or path.rstrip("/") == "/v2":
        return {200, 400}
    return {200}
