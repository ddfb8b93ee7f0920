"""HTTPS on the docker target: the server in the container terminates TLS with the pair
mounted read-only from the endpoint's folder (never in the image); the image's health check
is replaced by one over HTTPS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.deploy.containers import TLS_MOUNT
from tests.helpers import DOCKER_TIMEOUT, Cli, deploy_digits
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


def test_docker_https(
    cli: Cli,
    ws_path: Path,
    tmp_path: Path,
    template_model: Path,
    base_image: str,
    engine: DockerClient,
) -> None:
    ca = make_ca(tmp_path / "ca")
    tls = ("--ssl-cert", ca.good.cert, "--ssl-key", ca.good.key)
    data = deploy_digits(cli, "docker", "--auth", *tls, model=template_model)
    assert data["state"] == "Healthy"
    uri, keys = str(data["scoring_uri"]), data["keys"]
    assert isinstance(keys, list)
    check_https_scoring(uri, ca, keys[0])
    check_plain_http_refused(uri)
    check_wrong_host_refused(uri, ca)

    container = engine.containers.get("serving-digits-svc")
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts[TLS_MOUNT]["RW"] is False
    image = engine.images.get(container.image.id)
    secret = ca.good.key.read_text().splitlines()[1]
    in_image = json.dumps(image.attrs) + json.dumps(image.history())
    assert secret not in in_image and "PRIVATE KEY" not in in_image
    assert secret not in json.dumps(container.attrs["Config"])
    logs = cli("endpoints", "logs", "digits-svc").out
    shown = cli("endpoints", "show", "digits-svc", "-o", "json").out
    check_key_private(ws_path / "endpoints" / "digits-svc", ca.good, logs, shown)

    expired = ("--ssl-cert", ca.expired.cert, "--ssl-key", ca.expired.key)
    old = deploy_digits(cli, "docker", *expired, name="expired-svc")
    check_expired_refused(str(old["scoring_uri"]), ca)
    for name in ("digits-svc", "expired-svc"):
        assert cli("endpoints", "delete", name).code == 0
