"""The threads a no-code model's runtime gets (serving.scoring.nocode.threads): each
worker's share of the cores, one fewer with dynamic batching on; TensorFlow with one
inter-op thread unless the environment says otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving.scoring.nocode import threads
from tests.fastpath.nocode_models import make_keras


@pytest.mark.parametrize(
    ("cores", "workers", "batching", "expected"),
    [(2, 1, False, 2), (2, 1, True, 1), (8, 2, False, 4), (8, 2, True, 3), (2, 4, True, 1)],
)
def test_share_of_the_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, batching: bool, expected: int
) -> None:
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    assert threads.intra_op_threads(workers, batching=batching) == expected


_CHILD = """
import json, sys
from pathlib import Path
import tensorflow as tf
from serving.scoring.nocode.tensorflow import TensorflowModel
TensorflowModel(Path(sys.argv[1]), "m", "1", 1, batching=sys.argv[2] == "on")
threading = tf.config.threading
print(json.dumps([threading.get_intra_op_parallelism_threads(),
                  threading.get_inter_op_parallelism_threads()]))
"""


def _tf_threads(saved: Path, batching: str, env: dict[str, str]) -> list[int]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TF_NUM_")}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(saved), batching],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_tensorflow_threads_set_before_the_model_loads(tmp_path: Path) -> None:
    saved, _rows, _expected = make_keras(tmp_path)
    cores = threads.available_cores()
    assert _tf_threads(saved, "off", {}) == [cores, 1]
    assert _tf_threads(saved, "on", {}) == [max(1, cores - 1), 1]
    told = {"TF_NUM_INTRAOP_THREADS": "3", "TF_NUM_INTEROP_THREADS": "2"}
    assert _tf_threads(saved, "on", told) == [0, 0]  # left to TensorFlow, which reads them
