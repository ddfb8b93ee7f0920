"""HTTPS on the local target: the server (gunicorn) terminates TLS with the deployed pair;
a test CA signs the certificates the client checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Cli, deploy_digits
from tests.tls.certs import (
    check_expired_refused,
    check_https_scoring,
    check_key_private,
    check_plain_http_refused,
    check_wrong_host_refused,
    make_ca,
)

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _shared_envs(shared_envs: Path) -> None:
    """Build venvs in the session's cache."""


def test_local_https(cli: Cli, ws_path: Path, tmp_path: Path, template_model: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    tls = ("--ssl-cert", ca.good.cert, "--ssl-key", ca.good.key)
    data = deploy_digits(cli, "local", "--auth", *tls, model=template_model)
    uri = str(data["scoring_uri"])
    keys = data["keys"]
    assert isinstance(keys, list)
    check_https_scoring(uri, ca, keys[0])
    check_plain_http_refused(uri)
    check_wrong_host_refused(uri, ca)
    logs = cli("endpoints", "logs", "digits-svc").out
    shown = cli("endpoints", "show", "digits-svc", "-o", "json").out
    check_key_private(ws_path / "endpoints" / "digits-svc", ca.good, logs, shown)
    assert json.loads(shown)["scoring_uri"] == uri

    expired = ("--ssl-cert", ca.expired.cert, "--ssl-key", ca.expired.key)
    old = deploy_digits(cli, "local", *expired, name="expired-svc")
    check_expired_refused(str(old["scoring_uri"]), ca)
    for name in ("digits-svc", "expired-svc"):
        assert cli("endpoints", "delete", name).code == 0


@pytest.mark.parametrize(
    ("which", "needle"),
    [
        ("cert-only", "--ssl-cert and --ssl-key go together"),
        ("missing", "cannot read the TLS certificate"),
        ("mismatch", "does not match the certificate"),
    ],
)
def test_bad_pairs_refused(cli: Cli, tmp_path: Path, which: str, needle: str) -> None:
    ca = make_ca(tmp_path / "ca")
    args = {
        "cert-only": ("--ssl-cert", ca.good.cert),
        "missing": ("--ssl-cert", tmp_path / "nope.pem", "--ssl-key", ca.good.key),
        "mismatch": ("--ssl-cert", ca.good.cert, "--ssl-key", ca.other_key),
    }[which]
    result = cli("deploy", "svc-x", "--model", "digits", "--target", "local", *args)
    assert result.code != 0
    assert needle in result.err and len(result.err.strip().splitlines()) == 1, result.err
