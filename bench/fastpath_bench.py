"""The fast path's benchmark (issue 15): no-code ONNX, V2, dynamic batching, cold start.

One run on one machine, same worker count for every server, servers alternating A/B/A/B
and the medians of the rounds reported with their ratios:

1. **no-code ONNX vs azmlinfsrv**: the digits LogisticRegression converted to ONNX and
   served by ``serving serve`` with no entry script, against ``azmlinfsrv`` 1.5.1 serving the
   scikit-learn template's ``score.py`` (the same model's pickle); one-row ``/score`` bodies
   at 8 and 32 connections. Targets: ≥ 3x req/s at both, p99 at 8 ≤ half of theirs.
2. **V2 infer vs MLServer 1.7** (one process, ``parallel_workers=0``, a small onnxruntime
   runtime serving the same ONNX file): one-row and 100-row V2 JSON bodies at 8
   connections. Targets: ≥ 1.5x at one row, ≥ 1.2x at 100 rows.
3. **batching**: a small Keras dense network on digits served from its SavedModel (no
   ONNX), no-code, batching off vs on, one-row bodies at 32 connections. Target: ≥ 3x,
   p99 below the configured delay plus one model call (of a full batch, timed in process).
4. **cold start** of the no-code ONNX server: process start → ``/health/ready`` 200, for
   the server process as the local target starts it (the target), and for ``serving serve``
   with its CLI in front (for reference).

    python bench/fastpath_bench.py [--duration 8] [--rounds 2] [--workers 1] [--parts ...]

Needs ``wrk`` (Debian package). The peers are installed from PyPI into their own venvs under
bench/.work once. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import server_bench as sb

WORK = sb.WORK
MLSERVER_PINS = ("mlserver==1.7.1", "uvloop<0.22", "onnxruntime", "numpy")
BATCH_SIZE = 32
BATCH_DELAY_MS = 5.0
PARTS = ("nocode", "v2", "batching", "coldstart")

MLSERVER_RUNTIME = """
import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxModel(MLModel):
    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            self.settings.parameters.uri, options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        results = self.session.run(None, {self.input_name: x})
        outputs = [
            NumpyCodec.encode_output(name=name, payload=value)
            for name, value in zip(self.output_names, results)
        ]
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=outputs)
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_wrk(port: int, path: str, body: Path, conns: int, duration: int) -> tuple[float, float]:
    """(req/s, p99 ms) of wrk POSTing ``body`` to ``path``; errors make the figure void."""
    lua = WORK / "post.lua"
    lua.write_text(sb.LUA)
    rps, _p50, p99, errors = sb.wrk(f"http://127.0.0.1:{port}{path}", body, conns, duration, lua)
    if errors:
        raise SystemExit(f"wrk saw {errors} errors on {path}")
    return rps, p99


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, limit: float = 90) -> float:
    """Seconds until ``url`` answered 200."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if proc.poll() is not None:
            raise SystemExit(f"server exited; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"not ready after {limit} s; see {log}")


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=log.parent,
        )


# --- models and bodies ------------------------------------------------------------------


def onnx_model(pkl_dir: Path) -> Path:
    """The digits model converted to ONNX (float32 input, no zipmap), in its own folder."""
    folder = WORK / "onnx-model"
    target = folder / "model.onnx"
    if not target.is_file():
        import joblib
        import numpy as np
        from skl2onnx import to_onnx

        model = joblib.load(pkl_dir / "model.pkl")
        x = np.zeros((1, 64), dtype=np.float32)
        onx = to_onnx(model, x, options={id(model): {"zipmap": False}}, target_opset=17)
        folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(onx.SerializeToString())
    return folder


def keras_model() -> tuple[Path, float]:
    """A dense network on digits exported as a SavedModel, and one full batch's call in ms."""
    folder = WORK / "keras-savedmodel"
    if not (folder / "saved_model.pb").is_file():
        say("training the Keras digits model (once)")
        code = (
            "import keras, numpy as np, sys\n"
            "from sklearn.datasets import load_digits\n"
            "x, y = load_digits(return_X_y=True)\n"
            "dense = keras.layers.Dense\n"
            "m = keras.Sequential([keras.Input((64,)), dense(256, activation='relu'),"
            " dense(256, activation='relu'), dense(10, activation='softmax')])\n"
            "m.compile('adam', 'sparse_categorical_crossentropy')\n"
            "m.fit(x.astype('float32') / 16, y, epochs=3, verbose=0)\n"
            "m.export(sys.argv[1])\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(folder)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    timing = (
        "import time, numpy as np, tensorflow as tf, sys\n"
        "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "name = list(f.structured_input_signature[1])[0]\n"
        f"x = tf.constant(np.zeros(({BATCH_SIZE}, 64), dtype=np.float32))\n"
        "[f(**{name: x}) for _ in range(20)]\n"
        "t = time.perf_counter(); [f(**{name: x}) for _ in range(200)]\n"
        "print((time.perf_counter() - t) / 200 * 1000)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", timing, str(folder)], check=True, capture_output=True, text=True
    )
    return folder, float(out.stdout.strip().splitlines()[-1])


def v2_bodies(input_name: str) -> dict[str, Path]:
    from sklearn.datasets import load_digits

    x = load_digits().data
    bodies = {}
    for name, rows in (("1row", 1), ("100rows", 100)):
        body = {
            "inputs": [
                {
                    "name": input_name,
                    "shape": [rows, 64],
                    "datatype": "FP32",
                    "data": x[:rows].ravel().tolist(),
                }
            ]
        }
        path = WORK / f"v2-{name}.json"
        path.write_text(json.dumps(body))
        bodies[name] = path
    return bodies


def onnx_input_name(folder: Path) -> str:
    import onnxruntime as ort

    return str(ort.InferenceSession(str(folder / "model.onnx")).get_inputs()[0].name)


# --- servers ----------------------------------------------------------------------------


def start_nocode(
    model_dir: Path, port: int, workers: int, extra_env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], float]:
    argv = [
        sys.executable,
        "-m",
        "serving",
        "serve",
        "--model-dir",
        str(model_dir),
        "--model-name",
        "digits",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = dict(os.environ, **extra_env)
    started = time.monotonic()
    proc = spawn(argv, env, log)
    wait_ready(proc, f"http://127.0.0.1:{port}/health/ready", log)
    return proc, time.monotonic() - started


def start_azmlinfsrv(pkl_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    venv = sb.theirs_venv(WORK)
    return sb.start("theirs", pkl_dir, port, workers, venv, WORK / "azmlinfsrv.log")


def mlserver_venv() -> Path:
    return sb.peer_venv(WORK / "mlserver-venv", MLSERVER_PINS)


def start_mlserver(onnx_dir: Path, port: int) -> subprocess.Popen[bytes]:
    venv = mlserver_venv()
    folder = WORK / "mlserver-app"
    folder.mkdir(exist_ok=True)
    (folder / "runtime.py").write_text(MLSERVER_RUNTIME)
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "parallel_workers": 0,
                "http_port": port,
                "grpc_port": sb.free_port(),
                "metrics_port": sb.free_port(),
                "debug": False,
            }
        )
    )
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "digits",
                "implementation": "runtime.OnnxModel",
                "parameters": {"uri": str(onnx_dir / "model.onnx")},
            }
        )
    )
    log = WORK / "mlserver.log"
    env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    proc = spawn([str(venv / "bin" / "mlserver"), "start", str(folder)], env, log)
    wait_ready(proc, f"http://127.0.0.1:{port}/v2/models/digits/ready", log)
    return proc


# --- the four parts ---------------------------------------------------------------------


Starter = Callable[[int], subprocess.Popen[bytes]]


def ab_rounds(
    servers: dict[str, Starter],
    loads: list[tuple[str, str, Path, int]],
    args: argparse.Namespace,
    probe: Callable[[str, int], None] | None = None,
) -> dict[tuple[str, str], tuple[float, float]]:
    """Median (req/s, p99 ms) per (server, load label), servers alternating per round;
    ``probe(server, port)`` runs before each server stops."""
    seen: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_no in range(args.rounds):
        for server, start in servers.items():
            port = sb.free_port()
            proc = start(port)
            try:
                for label, path, body, conns in loads:
                    run_wrk(port, path, body, conns, 2)  # warm-up
                    figure = run_wrk(port, path, body, conns, args.duration)
                    seen.setdefault((server, label), []).append(figure)
                    say(
                        f"round {round_no + 1} {server:10} {label:14} "
                        f"{figure[0]:8.0f} req/s p99 {figure[1]:6.2f} ms"
                    )
                if probe is not None:
                    probe(server, port)
            finally:
                sb.stop(proc)
    return {
        key: (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
        for key, vals in seen.items()
    }


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def part_nocode(
    pkl_dir: Path, onnx_dir: Path, bodies: dict[str, Path], args: argparse.Namespace
) -> None:
    loads = [("1row c=8", "/score", bodies["1row"], 8), ("1row c=32", "/score", bodies["1row"], 32)]
    servers: dict[str, Starter] = {
        "nocode": lambda p: start_nocode(onnx_dir, p, args.workers, {}, WORK / "nocode.log")[0],
        "azmlinfsrv": lambda p: start_azmlinfsrv(pkl_dir, p, args.workers),
    }
    res = ab_rounds(servers, loads, args)
    print("\n1. no-code ONNX vs azmlinfsrv (sklearn score.py), /score one-row bodies")
    for label, _, _, _ in loads:
        ours, theirs = res[("nocode", label)], res[("azmlinfsrv", label)]
        ratio = ours[0] / theirs[0]
        print(
            f"  {label:10} ours {ours[0]:7.0f} req/s p99 {ours[1]:6.2f} ms | azmlinfsrv "
            f"{theirs[0]:7.0f} req/s p99 {theirs[1]:6.2f} ms | ratio {ratio:4.2f} "
            f"(>= 3): {verdict(ratio >= 3)}"
        )
    ours, theirs = res[("nocode", "1row c=8")], res[("azmlinfsrv", "1row c=8")]
    print(
        f"  p99 at 8: {ours[1]:.2f} ms vs {theirs[1]:.2f} ms (<= half): "
        f"{verdict(ours[1] <= theirs[1] / 2)}"
    )


def part_v2(onnx_dir: Path, args: argparse.Namespace) -> None:
    bodies = v2_bodies(onnx_input_name(onnx_dir))
    path = "/v2/models/digits/infer"
    loads = [
        ("v2 1row c=8", path, bodies["1row"], 8),
        ("v2 100rows c=8", path, bodies["100rows"], 8),
    ]
    servers: dict[str, Starter] = {
        "nocode": lambda p: start_nocode(onnx_dir, p, args.workers, {}, WORK / "nocode.log")[0],
        "mlserver": lambda p: start_mlserver(onnx_dir, p),
    }
    res = ab_rounds(servers, loads, args)
    print("\n2. V2 infer, no-code ONNX vs MLServer 1.7.1 (parallel_workers=0, onnxruntime runtime)")
    for label, want in (("v2 1row c=8", 1.5), ("v2 100rows c=8", 1.2)):
        ours, theirs = res[("nocode", label)], res[("mlserver", label)]
        ratio = ours[0] / theirs[0]
        print(
            f"  {label:15} ours {ours[0]:7.0f} req/s | MLServer {theirs[0]:7.0f} req/s | "
            f"ratio {ratio:4.2f} (>= {want}): {verdict(ratio >= want)}"
        )


def keras_body() -> Path:
    """The batching part's request: the first digits row, scaled as the model was trained."""
    from sklearn.datasets import load_digits

    scaled = WORK / "1row-scaled.json"
    scaled.write_text(json.dumps({"data": (load_digits().data[:1] / 16).tolist()}))
    return scaled


def part_batching(args: argparse.Namespace) -> None:
    folder, batch_ms = keras_model()
    loads = [("1row c=32", "/score", keras_body(), 32)]
    on = {
        "SERVING_MAX_BATCH_SIZE": str(BATCH_SIZE),
        "SERVING_MAX_BATCH_DELAY_MS": str(BATCH_DELAY_MS),
    }
    servers: dict[str, Starter] = {
        "batch off": lambda p: start_nocode(folder, p, args.workers, {}, WORK / "tf-off.log")[0],
        "batch on": lambda p: start_nocode(folder, p, args.workers, on, WORK / "tf-on.log")[0],
    }
    batcher: list[dict[str, float]] = []

    def probe(server: str, port: int) -> None:
        if server == "batch on":
            batcher.append(batch_metrics(port))

    res = ab_rounds(servers, loads, args, probe)
    off, got = res[("batch off", "1row c=32")], res[("batch on", "1row c=32")]
    ratio = got[0] / off[0]
    bound = BATCH_DELAY_MS + batch_ms
    print(
        f"\n3. batching, Keras SavedModel (no ONNX), one-row bodies at 32 connections "
        f"(max {BATCH_SIZE}, delay {BATCH_DELAY_MS} ms; "
        f"one {BATCH_SIZE}-row call {batch_ms:.2f} ms)"
    )
    print(
        f"  off {off[0]:7.0f} req/s p99 {off[1]:6.2f} ms | on {got[0]:7.0f} req/s p99 "
        f"{got[1]:6.2f} ms | ratio {ratio:4.2f} (>= 3): {verdict(ratio >= 3)}; p99 on "
        f"{got[1]:.2f} ms (< {bound:.2f} ms): {verdict(got[1] < bound)}"
    )
    if batcher:
        mid = {key: statistics.median(m[key] for m in batcher) for key in batcher[0]}
        print(
            f"  the batcher's own part (server metrics, median of rounds, warm-up included): "
            f"mean batch {mid['size']:.1f} requests, model call {mid['exec_ms']:.2f} ms per batch; "
            f"queue wait per request mean {mid['queue_ms']:.2f} ms, p99 <= "
            f"{mid['queue_p99_ms']:.1f} ms (bucket bound)"
        )


def batch_metrics(port: int) -> dict[str, float]:
    """The batcher's histograms on ``/metrics``: mean batch size, mean model call per
    batch, mean queue wait per request and the bucket bound of its 99th percentile."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    series: dict[str, float] = {}
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith("serving_batch_queue_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
        elif line.startswith("serving_batch_") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            series[name] = float(value)
    batches = series["serving_batch_size_count"]
    requests = series["serving_batch_size_sum"]
    total = buckets[-1][1] if buckets else 0.0
    p99 = next((b for b, count in buckets if count >= 0.99 * total), float("inf"))
    return {
        "size": requests / batches,
        "queue_ms": series["serving_batch_queue_seconds_sum"] / requests * 1000,
        "exec_ms": series["serving_batch_exec_seconds_sum"] / batches * 1000,
        "queue_p99_ms": p99 * 1000,
    }


def start_local_server(onnx_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """The server process exactly as the local target starts it (gunicorn with the no-code
    settings in its environment, no CLI in front); seconds until ``/health/ready``."""
    import tempfile

    from serving.config import ServerSettings
    from serving.server.gunicorn import gunicorn_argv, gunicorn_env

    settings = ServerSettings(
        app_root=Path(tempfile.mkdtemp(prefix="cold-")),
        entry_script="",
        model_dir=onnx_dir,
        nocode_framework="onnx",
        model_name="digits",
        model_version="1",
        host="127.0.0.1",
        port=port,
        workers=1,
        access_log=True,
    )
    env = {**os.environ, **gunicorn_env(settings)}
    started = time.monotonic()
    proc = spawn(gunicorn_argv(settings, python=sys.executable), env, WORK / "cold.log")
    wait_ready(proc, f"http://127.0.0.1:{port}/health/ready", WORK / "cold.log")
    return proc, time.monotonic() - started


def part_coldstart(onnx_dir: Path, args: argparse.Namespace) -> None:
    figures: dict[str, list[float]] = {"local target's server": [], "serving serve (CLI)": []}
    for _ in range(max(3, args.rounds)):
        proc, seconds = start_local_server(onnx_dir, sb.free_port())
        sb.stop(proc)
        figures["local target's server"].append(seconds)
        proc, seconds = start_nocode(onnx_dir, sb.free_port(), 1, {}, WORK / "cold.log")
        sb.stop(proc)
        figures["serving serve (CLI)"].append(seconds)
    print("\n4. cold start, no-code ONNX, process start -> /health/ready")
    for label, times in figures.items():
        median = statistics.median(times)
        target = "the target" if label.startswith("local") else "for reference, CLI included"
        print(
            f"  {label:24} median {median:.2f} s of {[round(t, 2) for t in times]} ({target}: "
            f"<= 1 s: {verdict(median <= 1.0)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"of {','.join(PARTS)}")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    WORK.mkdir(parents=True, exist_ok=True)
    pkl_dir, bodies = sb.prepare(WORK)
    onnx_dir = onnx_model(pkl_dir)
    parts = args.parts.split(",")
    print(
        f"fast path benchmark: {args.workers} worker(s), wrk -t1, {args.duration} s per run, "
        f"median of {args.rounds} rounds, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if "nocode" in parts:
        part_nocode(pkl_dir, onnx_dir, bodies, args)
    if "v2" in parts:
        part_v2(onnx_dir, args)
    if "batching" in parts:
        part_batching(args)
    if "coldstart" in parts:
        part_coldstart(onnx_dir, args)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
