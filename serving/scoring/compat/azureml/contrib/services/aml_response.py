"""``AMLResponse``: a Flask response that entry scripts may return."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response

_FAILED_HEADER = "x-ms-run-function-failed"


class AMLResponse(Response):
    """Response built by run(); passed to the client unchanged.

    ``json_str=True`` sends ``json.dumps(message)`` as application/json; otherwise the
    message (str, bytes or an iterable of chunks) goes out as is. Header values holding
    commas become repeated headers.
    """

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Mapping[str, str] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        headers = dict(response_headers or {})
        if message is None:
            super().__init__(json.dumps({}), status=status_code, mimetype="application/json")
        elif json_str:
            super().__init__(json.dumps(message), status=status_code, mimetype="application/json")
        else:
            super().__init__(message, status=status_code)
            if any(name.lower() == "content-type" for name in headers):
                del self.headers["Content-Type"]
        self.headers[_FAILED_HEADER] = str(bool(run_function_failed) or status_code >= 500)
        for name, value in headers.items():
            for part in str(value).split(","):
                self.headers.add(name, part.strip())
