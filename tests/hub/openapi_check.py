"""Real responses of the workspace server checked against its own OpenAPI document."""

from __future__ import annotations

import functools
from typing import Any

import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from serving.hub.openapi import document


@functools.cache
def spec(base: str) -> OpenAPI:
    data = dict(document())
    data["servers"] = [{"url": f"{base}/api/v1"}]
    return OpenAPI.from_dict(data)


def check(response: requests.Response, base: str) -> Any:
    """Validate ``response`` against the document; its JSON body (None for a stream)."""
    request = RequestsOpenAPIRequest(response.request)
    spec(base).validate_response(request, RequestsOpenAPIResponse(response))
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        if response.status_code >= 400:
            assert set(body) == {"error"} and body["error"]["message"], body
        return body
    assert response.status_code < 400, response.text[:200]
    return None
