"""Batching part of the fast path benchmark, A/B over server environment variants.

Each variant is the no-code Keras SavedModel server of ``fastpath_bench.py`` (part 3) with
extra environment variables; the variants alternate per round (wrk, one-row ``/score``
bodies at 32 connections, ``fastpath_bench.ab_rounds``) and the medians are printed, with
the batcher's own metrics for variants that batch. Used to choose settings such as
TensorFlow's thread pools::

    python bench/batching_variants.py --rounds 2 --duration 5 \\
        'on=SERVING_MAX_BATCH_SIZE=32,SERVING_MAX_BATCH_DELAY_MS=5' \\
        'on-tf2=SERVING_MAX_BATCH_SIZE=32,SERVING_MAX_BATCH_DELAY_MS=5,TF_NUM_INTRAOP_THREADS=2' \\
        'off='

Needs ``wrk``; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import fastpath_bench as fb


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    """``name=KEY=VALUE,KEY=VALUE`` → (name, environment)."""
    name, _, pairs = spec.partition("=")
    env = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
    return name, env


def starter(folder: Path, name: str, env: dict[str, str]) -> fb.Starter:
    return lambda port: fb.start_nocode(folder, port, 1, env, fb.WORK / f"variant-{name}.log")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="name=KEY=VALUE,... (name= for none)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    args = parser.parse_args()
    variants = dict(parse_variant(v) for v in args.variants)
    folder, _batch_ms = fb.keras_model()
    servers = {name: starter(folder, name, env) for name, env in variants.items()}

    def probe(name: str, port: int) -> None:
        if "SERVING_MAX_BATCH_SIZE" in variants[name]:
            metrics = fb.batch_metrics(port)
            fb.say(f"  {name} batcher: " + " ".join(f"{k} {v:.2f}" for k, v in metrics.items()))

    loads = [("1row c=32", "/score", fb.keras_body(), 32)]
    for (name, _label), (rps, p99) in fb.ab_rounds(servers, loads, args, probe).items():
        print(f"{name:14} median {rps:7.0f} req/s, p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
