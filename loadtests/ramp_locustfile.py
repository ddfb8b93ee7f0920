"""A load ramp for autoscaling: ``--ramp-low`` users (2), rising linearly to ``--ramp-high``
(40) over ``--ramp-up-s`` (60 s), held ``--ramp-hold-s`` (10 s), back down to the low count
over ``--ramp-down-s`` (5 s), held ``--ramp-tail-s`` (60 s) so the autoscaler's cool-down can
pass, then the test stops by itself (bounded: the shape's total, nothing else)::

    locust -f loadtests/ramp_locustfile.py --headless --host http://127.0.0.1:PORT \\
        --payload scoring_templates/sklearn/sample-request.json --key "$KEY"

The users, their checks and the per-second timeline are ``serving loadtest``'s
(:mod:`serving.loadtest.locustfile`); ``loadtests/autoscale_ramp.py`` runs this file for the
autoscaling test and benchmark.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from locust import LoadTestShape, events
from locust.argument_parser import LocustArgumentParser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: loadtests

from loadtests.ramp_shape import Ramp
from serving.loadtest.locustfile import ScoringUser

__all__ = ["RampShape", "ScoringUser"]


def _options(parser: LocustArgumentParser) -> None:
    defaults = Ramp()
    for name in ("low", "high"):
        parser.add_argument(f"--ramp-{name}", type=int, default=getattr(defaults, name))
    for name in ("up_s", "hold_s", "down_s", "tail_s"):
        flag = f"--ramp-{name.replace('_', '-')}"
        parser.add_argument(flag, type=float, default=getattr(defaults, name))


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]


class RampShape(LoadTestShape):
    """:class:`Ramp` as locust's load shape (users start and stop at up to 20 a second)."""

    def ramp(self) -> Ramp:
        options: Any = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return Ramp()
        return Ramp(
            options.ramp_low,
            options.ramp_high,
            options.ramp_up_s,
            options.ramp_hold_s,
            options.ramp_down_s,
            options.ramp_tail_s,
        )

    def tick(self) -> tuple[int, float] | None:
        users = self.ramp().users_at(self.get_run_time())  # type: ignore[no-untyped-call]
        return None if users is None else (users, 20.0)
