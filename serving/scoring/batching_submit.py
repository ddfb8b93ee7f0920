"""A no-code ``/score`` request handed to the batcher without waiting for its batch.

The event-loop worker (:mod:`serving.server.deferred`) serves batched requests in two
halves so that its one thread can gather a batch from many connections: the first half
binds and validates the request and queues its arrays (:func:`submit_score`), the second
turns the batch's outputs into what run() would have returned (:meth:`PendingScore.result`).
Both halves use the no-code scorer's own pieces (``bind_arguments``, ``parse_body``,
``outputs_reply``), so the answer is the one ``Scorer.score`` gives for the same request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from serving.scoring.batching import BatchingModel, BatchItem
from serving.scoring.exceptions import RUN_FAILURES
from serving.scoring.inputs import ScoringInput, bind_arguments
from serving.scoring.scorer import ScoringResult

if TYPE_CHECKING:
    import numpy as np

    from serving.scoring.scorer import Scorer


class BatchedScore(NamedTuple):
    """How a no-code scorer's ``/score`` batches: its batcher, and the batch's outputs for
    one request as run()'s value (:attr:`NocodeModel.batched_reply`, built once)."""

    batcher: BatchingModel
    reply: Callable[[dict[str, np.ndarray]], Any]


class PendingScore:
    """A queued ``/score`` request: its batch item and how to finish its answer."""

    __slots__ = ("batched", "item", "started")

    def __init__(self, batched: BatchedScore, item: BatchItem):
        self.batched = batched
        self.item = item
        self.started = time.perf_counter()

    def result(self) -> ScoringResult:
        """What run() returned, raising as ``Scorer.score`` does: its
        :class:`ScoringError` subclasses as they are, anything else as
        :class:`RunFailedError`. Never waits (not done yet: a timeout)."""
        with RUN_FAILURES:
            value = self.batched.reply(self.batched.batcher.collect(self.item))
        return ScoringResult(value, (time.perf_counter() - self.started) * 1000.0)


def batched_nocode(scorer: Scorer) -> BatchedScore | None:
    """How a no-code scorer's ``/score`` batches, or None if it does not. Fixed once
    batching is installed (:func:`serving.scoring.batching.install_batching`)."""
    model = scorer.tensor_model
    if not isinstance(model, BatchingModel):
        return None
    from serving.scoring.nocode import NocodeModel  # numpy: only where batching is on

    if not isinstance(model.inner, NocodeModel):
        return None
    run: Any = scorer.script.run
    reply = model.inner.batched_reply
    if getattr(run, "__self__", None) is not model.inner or reply is None:
        return None
    return BatchedScore(model, reply)


def submit_score(batched: BatchedScore, scorer: Scorer, inp: ScoringInput) -> PendingScore:
    """Bind, parse and queue a no-code ``/score`` request (see :func:`batched_nocode`).

    Raises the :class:`ScoringError` the synchronous path would answer with: bad input
    (400, 405, 415) or a full queue (503).
    """
    from serving.scoring.nocode.body import parse_body

    with RUN_FAILURES:  # as Scorer.score says a failing run()
        feed = parse_body(bind_arguments(scorer.script, inp)["data"], batched.batcher.inputs)
        return PendingScore(batched, batched.batcher.submit(feed))
