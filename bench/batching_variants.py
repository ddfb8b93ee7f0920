"""Batching part of the fast path benchmark, A/B over server environment variants.

Each variant is the no-code Keras SavedModel server of ``fastpath_bench.py`` (part 3) with
extra environment variables; the variants alternate per round (wrk, one-row ``/score``
bodies at 32 connections) and the medians are printed, with the batcher's own metrics for
variants that batch. Used to choose settings such as TensorFlow's thread pools::

    python bench/batching_variants.py --rounds 2 --duration 5 \\
        'on=SERVING_MAX_BATCH_SIZE=32,SERVING_MAX_BATCH_DELAY_MS=5' \\
        'on-tf2=SERVING_MAX_BATCH_SIZE=32,SERVING_MAX_BATCH_DELAY_MS=5,TF_NUM_INTRAOP_THREADS=2' \\
        'off='

Needs ``wrk``; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import statistics

import fastpath_bench as fb
import server_bench as sb


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    """``name=KEY=VALUE,KEY=VALUE`` → (name, environment)."""
    name, _, pairs = spec.partition("=")
    env = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
    return name, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="name=KEY=VALUE,... (name= for none)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    args = parser.parse_args()
    variants = dict(parse_variant(v) for v in args.variants)
    folder, _batch_ms = fb.keras_model()
    body = fb.WORK / "1row-variants.json"
    from sklearn.datasets import load_digits

    body.write_text(json.dumps({"data": (load_digits().data[:1] / 16).tolist()}))
    seen: dict[str, list[tuple[float, float]]] = {}
    for round_no in range(args.rounds):
        for name, env in variants.items():
            port = sb.free_port()
            proc, _ = fb.start_nocode(folder, port, 1, env, fb.WORK / f"variant-{name}.log")
            try:
                fb.run_wrk(port, "/score", body, 32, 2)  # warm-up
                figure = fb.run_wrk(port, "/score", body, 32, args.duration)
                batcher = fb.batch_metrics(port) if "SERVING_MAX_BATCH_SIZE" in env else {}
            finally:
                sb.stop(proc)
            seen.setdefault(name, []).append(figure)
            extra = " ".join(f"{k} {v:.2f}" for k, v in batcher.items())
            fb.say(
                f"round {round_no + 1} {name:14} {figure[0]:7.0f} req/s "
                f"p99 {figure[1]:6.2f} ms {extra}"
            )
    for name, figures in seen.items():
        rps = statistics.median(f[0] for f in figures)
        p99 = statistics.median(f[1] for f in figures)
        print(f"{name:14} median {rps:7.0f} req/s, p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
