"""A test CA (trustme) and the certificates the TLS tests serve and check, written as files,
and the client-side checks every target shares."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import trustme

from tests.helpers import SAMPLE

HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class CaFiles:
    ca_pem: Path
    good: Pair
    """For localhost and 127.0.0.1, valid now."""
    expired: Pair
    """For the same hosts, expired yesterday."""
    other_key: Path
    """A key of another certificate (does not match ``good.cert``)."""


def _write(leaf: trustme.LeafCert, folder: Path, stem: str) -> Pair:
    cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return Pair(cert, key)


def make_ca(folder: Path) -> CaFiles:
    ca = trustme.CA()
    folder.mkdir(parents=True, exist_ok=True)
    ca_pem = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    now = datetime.datetime.now(datetime.UTC)
    expired = ca.issue_cert(
        *HOSTS,
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    other = _write(ca.issue_cert("other.example"), folder, "other")
    return CaFiles(
        ca_pem, _write(ca.issue_cert(*HOSTS), folder, "good"), _write(expired, folder, "expired"),
        other.key,
    )  # fmt: skip


def sample() -> object:
    return json.loads(SAMPLE.read_text())


def check_https_scoring(uri: str, ca: CaFiles, key: str | None) -> None:
    """The prediction over HTTPS with the test CA; a key still required when ``key``."""
    assert uri.startswith("https://")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = requests.post(uri, json=sample(), headers=headers, verify=str(ca.ca_pem), timeout=30)
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json(), list | dict)
    if key:
        refused = requests.post(uri, json=sample(), verify=str(ca.ca_pem), timeout=30)
        assert refused.status_code == 401


def check_plain_http_refused(uri: str) -> None:
    """Plain HTTP to the HTTPS port: the handshake fails and the connection is closed."""
    plain = uri.replace("https://", "http://", 1)
    with pytest.raises(requests.ConnectionError):
        requests.post(plain, json=sample(), timeout=10)


def handshake(uri: str, ca: CaFiles, server_hostname: str) -> None:
    """A TLS handshake to ``uri``'s host and port, checking the certificate for
    ``server_hostname`` against the test CA."""
    parts = urlsplit(uri)
    context = ssl.create_default_context(cafile=str(ca.ca_pem))
    with (
        socket.create_connection((parts.hostname, parts.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname),
    ):
        pass


def check_wrong_host_refused(uri: str, ca: CaFiles) -> None:
    handshake(uri, ca, "localhost")  # the right name passes
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(uri, ca, "wrong.example")


def check_expired_refused(uri: str, ca: CaFiles) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        handshake(uri, ca, "localhost")
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(uri, json=sample(), verify=str(ca.ca_pem), timeout=10)


def check_key_private(endpoint_folder: Path, pair: Pair, *texts: str) -> None:
    """The key's copy is 0600 (or 0640 for containers) in the endpoint's folder, and
    its contents are in none of ``texts`` (logs, records)."""
    copy = endpoint_folder / "tls" / "key.pem"
    assert copy.read_bytes() == pair.key.read_bytes()
    assert copy.stat().st_mode & 0o077 in (0, 0o040)
    secret = pair.key.read_text().splitlines()[1]  # a line of the key's base64
    for text in texts:
        assert "PRIVATE KEY" not in text and secret not in text
