"""HTTPS on the cluster target: HAProxy terminates TLS with the bundle in its folder; the
replicas stay plain HTTP on the endpoint's private network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import DOCKER_TIMEOUT, Cli, deploy_digits, remove_workspace_debris
from tests.tls.certs import (
    check_expired_refused,
    check_https_scoring,
    check_key_private,
    check_plain_http_refused,
    check_wrong_host_refused,
    make_ca,
)

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]


def test_cluster_https(
    cli: Cli,
    ws_path: Path,
    tmp_path: Path,
    template_model: Path,
    base_image: str,
    engine: DockerClient,
) -> None:
    ca = make_ca(tmp_path / "ca")
    tls = ("--ssl-cert", ca.good.cert, "--ssl-key", ca.good.key)
    try:
        data = deploy_digits(
            cli, "cluster", "--replicas", "1", *tls, name="tls-cl", model=template_model
        )
        uri, keys = str(data["scoring_uri"]), data["keys"]
        assert isinstance(keys, list) and keys  # auth on by default on the cluster target
        check_https_scoring(uri, ca, keys[0])
        check_plain_http_refused(uri)
        check_wrong_host_refused(uri, ca)

        folder = ws_path / "endpoints" / "tls-cl"
        bundle = folder / "cluster" / "balancer" / "tls.pem"
        assert bundle.stat().st_mode & 0o077 == 0
        replica = engine.containers.get("serving-tls-cl-r1")
        image = engine.images.get(replica.image.id)
        secret = ca.good.key.read_text().splitlines()[1]
        assert secret not in json.dumps(image.attrs) + json.dumps(image.history())
        logs = cli("endpoints", "logs", "tls-cl").out
        shown = cli("endpoints", "show", "tls-cl", "-o", "json").out
        check_key_private(folder, ca.good, logs, shown)

        expired = ("--ssl-cert", ca.expired.cert, "--ssl-key", ca.expired.key)
        old = deploy_digits(cli, "cluster", "--replicas", "1", *expired, name="tls-cl-old")
        check_expired_refused(str(old["scoring_uri"]), ca)
    finally:
        for name in ("tls-cl", "tls-cl-old"):
            cli("endpoints", "delete", name)
        remove_workspace_debris(engine, ws_path, "tls-cl")
