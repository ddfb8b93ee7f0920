"""Large models through the remote client stream with bounded memory in the client: a
64 MiB file and a folder holding one are registered and downloaded while tracemalloc
watches this process."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from serving.registry import Ref
from tests.remote_fixtures import HubProcess, server_ws

SIZE = 64 * 2**20
PEAK_LIMIT = 16 * 2**20


def _random_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(SIZE // 2**20):
            block = os.urandom(2**20)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


@pytest.mark.timeout(240)
def test_register_and_download_keep_client_memory_bounded(
    hub_server: HubProcess, tmp_path: Path
) -> None:
    hub_server.reset()
    remote = server_ws(hub_server)
    folder = tmp_path / "big_model"
    folder.mkdir()
    sha = _random_file(folder / "weights.bin")
    tracemalloc.start()
    try:
        file_record = remote.models.register(folder / "weights.bin", "big-file")
        dir_record = remote.models.register(folder, "big-dir")
        got_file = remote.models.download(Ref("big-file", 1), tmp_path / "out-file")
        got_dir = remote.models.download(Ref("big-dir", 1), tmp_path / "out-dir")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert file_record.files[0].sha256 == sha and dir_record.files[0].sha256 == sha
    assert got_file.stat().st_size == SIZE and (got_dir / "weights.bin").stat().st_size == SIZE
    assert peak < PEAK_LIMIT, f"client peak {peak / 2**20:.1f} MiB for {SIZE / 2**20:.0f} MiB"
