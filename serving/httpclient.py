"""HTTP requests from the CLI and SDK: loopback addresses never go through a proxy.

``requests`` honours ``HTTP_PROXY``/``HTTPS_PROXY`` from the environment for every URL,
so a user with a corporate proxy configured would send calls to their own local endpoint
(``http://127.0.0.1:PORT/score``) to the proxy, which cannot reach it. Loopback URLs are
sent with a session that ignores the environment's proxy settings; every other URL keeps
``requests``' usual behaviour.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests

_local = threading.local()


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _session(trust_env: bool) -> requests.Session:
    """This thread's session for loopback URLs (``trust_env`` False: no proxy from
    ``HTTP_PROXY`` & co.) or for the others; kept, so repeated calls to one server reuse
    its connection (``requests.request`` opens and closes a session per call)."""
    key = "remote_session" if trust_env else "session"
    session: requests.Session | None = getattr(_local, key, None)
    if session is None:
        session = requests.Session()
        session.trust_env = trust_env
        setattr(_local, key, session)
    return session


def request(method: str, url: str, **kwargs: Any) -> requests.Response:
    """``requests.request`` that bypasses environment proxies for loopback URLs (the CA
    bundle of ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` still applies: HTTPS endpoints)."""
    if not is_loopback(url):
        return _session(trust_env=True).request(method, url, **kwargs)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        kwargs.setdefault("verify", bundle)
    return _session(trust_env=False).request(method, url, **kwargs)


def get(url: str, **kwargs: Any) -> requests.Response:
    """``GET`` through :func:`request`."""
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> requests.Response:
    """``POST`` through :func:`request`."""
    return request("POST", url, **kwargs)
