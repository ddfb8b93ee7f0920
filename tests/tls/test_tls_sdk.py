"""The SDK's TLS spellings (Azure ML v1): ``enable_ssl`` and the ``ssl_*`` arguments of the
ACI- and AKS-style configurations feed the deployment spec; an ACI-style deployment serves
HTTPS and ``Webservice.run`` checks it against ``REQUESTS_CA_BUNDLE``."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.deploy.spec import TlsOptions
from serving.errors import UserInputError
from serving.sdk import AciWebservice, AksWebservice, InferenceConfig, Model
from serving.sdk import Workspace as SdkWorkspace
from tests.helpers import DOCKER_TIMEOUT, SAMPLE
from tests.sdk.v1helpers import SCORE, digits_env
from tests.tls.certs import make_ca


def test_enable_ssl_and_ssl_arguments_feed_the_spec(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    cert, key = str(ca.good.cert), str(ca.good.key)
    aks = AksWebservice.deploy_configuration(
        num_replicas=1, ssl_enabled=True, ssl_cert_pem_file=cert, ssl_key_pem_file=key,
        ssl_cname="digits.example.com",
    )  # fmt: skip
    assert aks.to_spec().tls == TlsOptions(cert, key, "digits.example.com")
    aci = AciWebservice.deploy_configuration(cpu_cores=1)
    assert not aci.to_spec().tls.enabled
    aci.enable_ssl(ssl_cert_pem_file=cert, ssl_key_pem_file=key)
    assert aci.to_spec().tls == TlsOptions(cert, key)
    with pytest.raises(UserInputError, match="needs ssl_cert_pem_file and ssl_key_pem_file"):
        AciWebservice.deploy_configuration(ssl_enabled=True, ssl_cert_pem_file=cert).to_spec()
    aci.enable_ssl(ssl_cert_pem_file=cert, ssl_key_pem_file=str(ca.other_key))
    with pytest.raises(UserInputError, match="does not match"):
        aci.to_spec()


@pytest.mark.docker
@pytest.mark.timeout(DOCKER_TIMEOUT)
@pytest.mark.usefixtures("base_image", "shared_envs")
def test_aci_style_https_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template_model: Path
) -> None:
    ca = make_ca(tmp_path / "ca")
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.delenv("SERVING_WORKSPACE", raising=False)
    ws = SdkWorkspace.create(name="tls", subscription_id="s", resource_group="rg", exist_ok=True)
    model = Model.register(ws, model_path=str(template_model), model_name="digits")
    config = AciWebservice.deploy_configuration(cpu_cores=1, auth_enabled=True)
    config.enable_ssl(ssl_cert_pem_file=str(ca.good.cert), ssl_key_pem_file=str(ca.good.key))
    service = Model.deploy(
        ws, "tls-aci", [model], InferenceConfig(entry_script=str(SCORE), environment=digits_env()),
        config, overwrite=True,
    )  # fmt: skip
    try:
        service.wait_for_deployment()
        assert str(service.scoring_uri).startswith("https://")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_pem))
        assert service.run(SAMPLE.read_text()) == [0]
    finally:
        service.delete()
