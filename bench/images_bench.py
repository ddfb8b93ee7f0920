"""Model image benchmark: build times, image sizes, container start -> ready.

    python bench/images_bench.py [--starts 3] [--warm]

One run on this machine's Docker Engine (no registry needed: the base comes from
`serving images bootstrap`, built first if missing and timed separately):

* cold build of the scikit-learn digits image (template score.py + env.yml) with an empty
  wheel cache: a fresh workspace, an empty pip cache, and the runtime flavour and
  environment images built anew on a private copy of the base (removed afterwards; the
  images other users of the engine share are left alone), unless --warm;
* rebuild after registering a new model version with the same environment (target <= 10 s);
* image sizes: the scikit-learn image (target <= 450 MB) and an ONNX-only image, the same
  model converted with skl2onnx and served by onnxruntime (target <= 250 MB);
* container start -> ready for the scikit-learn image (target <= 3 s), the median of
  --starts runs: from `docker run` to the first 200 on /health/ready.

The ONNX figures need skl2onnx and onnxruntime on the host (pip install skl2onnx
onnxruntime; bench only). Model images made here are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving.catalog import parse_env_file  # noqa: E402
from serving.config import PlatformSettings  # noqa: E402
from serving.images import (  # noqa: E402
    BuildRequest,
    BuiltImage,
    ImageBuilder,
    bootstrap_base,
    docker_client,
)
from serving.workspace import Workspace  # noqa: E402

TEMPLATE = ROOT / "scoring_templates" / "sklearn"
ONNX_SCORE = '''"""Digits served by onnxruntime (converted with skl2onnx)."""
import json
import os

import numpy as np
import onnxruntime as ort

session = None


def init():
    global session
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def run(raw):
    rows = np.asarray(json.loads(raw)["data"], dtype=np.float32)
    name = session.get_inputs()[0].name
    return session.run(None, {name: rows})[0].tolist()
'''
ONNX_ENV = """name: digits-onnx
dependencies:
  - python=3.11
  - pip:
    - numpy
    - onnxruntime
"""
BENCH_LABEL = "serving.bench"
TARGETS = {"rebuild": 10.0, "sklearn_mb": 450.0, "onnx_mb": 250.0, "ready": 3.0}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def quiet(_line: str) -> None:
    return None


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


def private_base(client: Any, base: str, nonce: str) -> str:
    """A copy of ``base`` with a label of its own: a new image id, so the runtime and
    environment images built on it are new too (a cold build that leaves the images other
    users of this engine rely on in place). Everything built on it carries the label."""
    container = client.containers.create(base)
    try:
        result = client.api.commit(container.id, changes=[f"LABEL {BENCH_LABEL}={nonce}"])
    finally:
        container.remove(force=True)
    client.images.get(result["Id"]).tag("serving-bench-base", nonce)
    return f"serving-bench-base:{nonce}"


def remove_labelled(client: Any, nonce: str) -> None:
    """Remove every image made on the private base (children first)."""
    for _ in range(5):
        images = client.images.list(all=True, filters={"label": f"{BENCH_LABEL}={nonce}"})
        if not images:
            return
        for image in sorted(images, key=lambda i: str(i.attrs.get("Created")), reverse=True):
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.APIError:
                continue


def train(folder: Path) -> Path:
    model = folder / "model.pkl"
    subprocess.run(
        [sys.executable, str(TEMPLATE / "train.py"), "--output", str(model)],
        check=True,
        capture_output=True,
    )
    return model


def onnx_model(pkl: Path, folder: Path) -> Path | None:
    try:
        import joblib
        import numpy as np
        from skl2onnx import to_onnx
    except ImportError:
        return None
    model = joblib.load(pkl)
    onx = to_onnx(
        model,
        np.zeros((1, 64), dtype=np.float32),
        options={id(model): {"zipmap": False}},
        target_opset=17,
    )
    path = folder / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


def start_to_ready(client: Any, image: str) -> float:
    started = time.monotonic()
    container = client.containers.run(image, detach=True, ports={"5001/tcp": ("127.0.0.1", None)})
    try:
        port = None
        while time.monotonic() - started < 120:
            if port is None:
                container.reload()
                bound = container.attrs["NetworkSettings"]["Ports"].get("5001/tcp")
                port = bound[0]["HostPort"] if bound else None
            if port is not None:
                try:
                    url = f"http://127.0.0.1:{port}/health/ready"
                    if requests.get(url, timeout=1).status_code == 200:
                        return time.monotonic() - started
                except requests.RequestException:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"{image} was not ready after 120 s")
    finally:
        container.remove(force=True)


Row = tuple[str, str, str]


class Bench:
    """One run: a temporary workspace, the images it made, the figures."""

    def __init__(self, client: Any, work: Path, progress: Callable[[str], None]) -> None:
        self.client = client
        self.work = work
        self.progress = progress
        self.ws = Workspace.open(work / "ws", create=True)
        self.made: list[str] = []
        self.rows: list[Row] = []
        self.nonce = os.urandom(4).hex()

    def build(self, request: BuildRequest, base: str | None = None) -> tuple[BuiltImage, float]:
        builder = ImageBuilder(self.ws, PlatformSettings(base_image=base), client=self.client)
        built, seconds = timed(lambda: builder.build(request, self.progress))
        self.made.append(built.record.image_id)
        return built, seconds

    def sklearn(self, pkl: Path, cold: bool) -> BuiltImage:
        """Cold build, then a rebuild after a new model version; returns the second."""
        spec = parse_env_file(TEMPLATE / "env.yml")
        base = None
        if cold:
            base = private_base(self.client, "serving-base:3.11-bookworm", self.nonce)
            say(f"cold: runtime and environment images are built anew on {base}")
        first = self.ws.models.register(pkl, "digits")
        say("cold build of the scikit-learn image ...")
        _, cold_s = self.build(BuildRequest((first,), TEMPLATE / "score.py", None, spec), base)
        what = "empty wheel cache" if cold else "--warm: cached images kept"
        self.rows.append((f"cold build, sklearn digits ({what})", f"{cold_s:.1f} s", "-"))
        second = self.ws.models.register(pkl, "digits")
        say("rebuild after a new model version ...")
        warm, warm_s = self.build(BuildRequest((second,), TEMPLATE / "score.py", None, spec), base)
        reused = "env reused" if warm.env_reused else "ENV REBUILT"
        self.rows.append(
            (
                f"rebuild, new model version ({reused})",
                f"{warm_s:.1f} s",
                f"<= {TARGETS['rebuild']:.0f} s",
            )
        )
        self.rows.append(
            (
                "image size, sklearn",
                f"{warm.record.size_bytes / 1e6:.0f} MB",
                f"<= {TARGETS['sklearn_mb']:.0f} MB",
            )
        )
        return warm

    def onnx(self, pkl: Path) -> None:
        target = f"<= {TARGETS['onnx_mb']:.0f} MB"
        model = onnx_model(pkl, self.work)
        if model is None:
            self.rows.append(("image size, ONNX-only", "skipped", target + " (needs skl2onnx)"))
            return
        folder = self.work / "onnx"
        folder.mkdir()
        (folder / "score.py").write_text(ONNX_SCORE)
        (folder / "env.yml").write_text(ONNX_ENV)
        record = self.ws.models.register(model, "digits-onnx")
        say("build of the ONNX-only image ...")
        built, seconds = self.build(
            BuildRequest((record,), folder / "score.py", None, parse_env_file(folder / "env.yml"))
        )
        self.rows.append(
            (
                f"image size, ONNX-only ({built.record.flavour} flavour, built in {seconds:.0f} s)",
                f"{built.record.size_bytes / 1e6:.0f} MB",
                target,
            )
        )

    def starts(self, image: str, count: int) -> None:
        say("container start -> ready ...")
        times = [start_to_ready(self.client, image) for _ in range(count)]
        self.rows.append(
            (
                f"container start -> ready, sklearn (median of {count})",
                f"{statistics.median(times):.2f} s",
                f"<= {TARGETS['ready']:.0f} s",
            )
        )

    def clean(self) -> None:
        for image_id in self.made:
            self.client.images.remove(image_id, force=True)
        remove_labelled(self.client, self.nonce)


def print_table(rows: list[Row], header: str) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{header}")
    print(f"{'figure':<{width}}  {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="container starts to time")
    parser.add_argument("--warm", action="store_true", help="keep cached images (not cold)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show build progress")
    args = parser.parse_args()
    clock = time.monotonic()

    def progress(line: str) -> None:
        if args.verbose:
            say(f"  {time.monotonic() - clock:7.1f}  {line[:150]}")

    client = docker_client()
    load = os.getloadavg()[0]
    base, base_s = timed(lambda: bootstrap_base(client, "3.11", progress=quiet))
    say(f"base {base.tag}: {'reused' if base.reused else f'built in {base_s:.0f} s'}")
    with tempfile.TemporaryDirectory(prefix="images-bench-") as tmp:
        work = Path(tmp)
        os.environ["PIP_CACHE_DIR"] = str(work / "pip-cache")  # an empty wheel cache
        bench = Bench(client, work, progress)
        try:
            pkl = train(work)
            sklearn = bench.sklearn(pkl, cold=not args.warm)
            bench.onnx(pkl)
            bench.starts(sklearn.record.image_id, args.starts)
        finally:
            bench.clean()
    client.close()
    base_note = "reused" if base.reused else f"bootstrapped in {base_s:.0f} s"
    print_table(
        bench.rows,
        f"images bench ({os.cpu_count()} cores, load {load:.2f} at start; "
        f"base {base.tag} {base.size_bytes / 1e6:.0f} MB, {base_note})",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
