"""The base-image probe: the interpreter probe's file copied into a bare base and run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from serving.images.bases import ResolvedBase, probe
from tests.helpers import DOCKER_TIMEOUT

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]


def test_probe_reads_python_glibc_and_machine(engine: DockerClient, base_image: str) -> None:
    facts = probe(engine, ResolvedBase(base_image, None, "bootstrap"))
    assert facts.python == "3.11"
    assert facts.glibc.startswith("2.")
    assert facts.arch in ("x86_64", "aarch64")
