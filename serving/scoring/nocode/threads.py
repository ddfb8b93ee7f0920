"""How many threads a no-code model's runtime gets for one call (onnxruntime, TensorFlow).

``max(1, cores // workers - batcher)``: ``cores`` is the number of CPUs this process may run
on (``os.sched_getaffinity``, which follows ``taskset`` and cgroup cpusets, unlike
``os.cpu_count``) and ``workers`` the server's worker count, so the workers together use
each core once instead of oversubscribing it ``workers`` times. With dynamic batching on
(``batcher`` 1), a worker has two busy threads, the request loop and the batcher that makes
the model calls, so the model gets one core fewer: on 2 cores with one worker, TensorFlow
with its default pools (2 intra-op, 2 inter-op threads) made the batched Keras benchmark
16 % slower than one thread of each (docs/fastpath.md, *Speed*), as its pool threads took
the core the request loop needed. onnxruntime follows the same rule for the same reason
(measured with TensorFlow only: the digits graph is too small for its threads to matter).
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def intra_op_threads(workers: int, *, batching: bool = False) -> int:
    """Threads per model call: this worker's share of the cores (less the batcher's)."""
    return max(1, available_cores() // max(1, workers) - (1 if batching else 0))
