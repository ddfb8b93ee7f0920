"""A locust file for scoring endpoints: POST JSON bodies to the scoring path, check answers.

``serving loadtest`` runs this file headless; by hand::

    locust -f loadtests/locustfile.py --host http://127.0.0.1:5001 \\
        --payload request.json --key KEY

Options (each also an environment variable):

* ``--payload FILE`` / ``SERVING_LOADTEST_PAYLOAD``: a JSON body, or JSON lines (one body a
  line, cycled through). Without it the example of the endpoint's swagger document is sent.
* ``--key KEY`` / ``SERVING_LOADTEST_KEY``: sent as ``Authorization: Bearer KEY``.
* ``--scoring-path PATH`` / ``SERVING_LOADTEST_PATH``: default ``/score``.

Before any user starts, one request is sent: a refused connection, a missing key or an error
answer stops locust at once (exit code 2) with a one-line message.

An answer is good when its status is 200 and its body is JSON; any other answer is a failure
named ``HTTP <status>: <message>``. Redirects are not followed: all load stays on ``--host``.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.event import EventHook
from locust.exception import CatchResponseError, StopUser
from locust.stats import StatsError

from serving.errors import ServingError
from serving.loadtest.failures import failure_reason
from serving.loadtest.payload import read_bodies
from serving.loadtest.target import DEFAULT_PATH, Target, fetch_example, preflight
from serving.loadtest.timeline import IntervalRecorder

__all__ = ["ScoringUser"]

_log = logging.getLogger("serving.loadtest")


class _Run:
    """State shared by all users of this process (bodies are cycled through in order)."""

    path: str = DEFAULT_PATH
    headers: dict[str, str] = {}
    bodies: Iterator[bytes] | None = None
    recorder: IntervalRecorder | None = None
    ticker: gevent.Greenlet | None = None


def _add_options(parser: LocustArgumentParser) -> None:
    # on the parser itself: locust's extras (is_secret, web UI fields) need its add_argument
    parser.add_argument(
        "--payload",
        default="",
        env_var="SERVING_LOADTEST_PAYLOAD",
        help="JSON body file, or JSON lines (cycled); default: the swagger example",
    )
    parser.add_argument(
        "--key",
        default="",
        env_var="SERVING_LOADTEST_KEY",
        is_secret=True,
        help="endpoint key, sent as 'Authorization: Bearer KEY'",
    )
    parser.add_argument(
        "--scoring-path",
        default=DEFAULT_PATH,
        env_var="SERVING_LOADTEST_PATH",
        help="scoring path on --host (default /score)",
    )
    for name, what in (
        ("summary", "the final totals and failures as JSON"),
        ("timeline", "per-second JSON lines"),
    ):
        parser.add_argument(
            f"--{name}-file",
            default="",
            include_in_web_ui=False,
            help=f"write {what} here (used by 'serving loadtest')",
        )


def _prepare(environment: Environment) -> str | None:
    """Load the bodies and headers and send one request; the reason when that fails."""
    options = environment.parsed_options
    if not environment.host or options is None:
        return "no --host given (the scoring server's base URL)"
    path = "/" + str(options.scoring_path).lstrip("/")
    target = Target(
        label=environment.host,
        host=environment.host.rstrip("/"),
        path=path,
        key=options.key or None,
    )
    try:
        bodies = read_bodies(Path(options.payload)) if options.payload else [fetch_example(target)]
        preflight(target, bodies[0])  # a bad URL, key or body fails here, not 1000 times
    except ServingError as exc:
        return exc.one_line()
    _Run.path, _Run.headers, _Run.bodies = path, target.headers(), itertools.cycle(bodies)
    _log.info(
        "Sending %d request bod%s to %s",
        len(bodies),
        "y" if len(bodies) == 1 else "ies",
        target.scoring_uri,
    )
    return None


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    _on(environment.events.quit, lambda **_kw: _write_totals(environment))
    if environment.host and environment.parsed_options is not None:
        problem = _prepare(environment)  # fail before any user starts
        if problem:
            _log.error("serving loadtest: %s", problem)
            sys.exit(2)


def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    if _Run.bodies is None:  # the web UI: --host was given there
        problem = _prepare(environment)
        if problem:
            _log.error("serving loadtest: %s", problem)
            environment.process_exit_code = 2
            if environment.runner is not None:
                gevent.spawn_later(0, environment.runner.quit)
            return
    options = environment.parsed_options
    if options is not None and options.timeline_file:
        _Run.recorder = IntervalRecorder(time.time())
        _Run.ticker = gevent.spawn(_tick, environment, Path(options.timeline_file))


def _count(response_time: float | None, exception: BaseException | None, **_kw: Any) -> None:
    if _Run.recorder is not None:
        _Run.recorder.add(response_time, exception is not None)


def _tick(environment: Environment, path: Path) -> None:
    """Append one point a second to the timeline file until the test stops."""
    with path.open("a", encoding="utf-8") as file:
        try:
            while True:
                gevent.sleep(1.0)
                runner = environment.runner
                _write_point(file, runner.user_count if runner is not None else 0)
        except gevent.GreenletExit:
            # the last part-second (users already stopped); a sliver would chart noise
            if _Run.recorder is not None and _Run.recorder.open_s(time.time()) >= 0.5:
                _write_point(file, None)


def _write_point(file: Any, users: int | None) -> None:
    if _Run.recorder is not None:
        file.write(_Run.recorder.flush(time.time(), users).to_json() + "\n")
        file.flush()


def _stop_ticker(**_kwargs: Any) -> None:
    if _Run.ticker is not None:
        _Run.ticker.kill(block=True)
        _Run.ticker = None


class ScoringUser(FastHttpUser):
    """One client that posts the next body as soon as the last answer came back."""

    wait_time = constant(0)

    @task
    def score(self) -> None:
        if _Run.bodies is None:  # the test could not be prepared
            raise StopUser()
        with self.client.post(
            _Run.path,
            data=next(_Run.bodies),  # type: ignore[arg-type]  # locust takes bytes too
            headers=_Run.headers,
            name=_Run.path,
            catch_response=True,
            allow_redirects=False,
        ) as resp:
            error = getattr(resp, "error", None)  # set on answers that never came
            reason = failure_reason(resp.status_code or 0, resp.text, error)
            if reason is None:
                resp.success()
            else:
                resp.failure(reason)


def _error_text(error: object) -> str:
    if isinstance(error, CatchResponseError) and error.args:
        return str(error.args[0])
    return StatsError.parse_error(error)  # type: ignore[arg-type]


def totals(environment: Environment) -> dict[str, Any]:
    """The run's totals: exact counts (locust's CSV files may lag the last second)."""
    total = environment.stats.total
    runner = environment.runner
    return {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "exceptions": len(runner.exceptions) if runner is not None else 0,
        "start_time": total.start_time,
        "last_request_time": total.last_request_timestamp,
        "rps": total.total_rps,
        "avg_ms": total.avg_response_time,
        "max_ms": total.max_response_time,
        "percentiles_ms": {
            f"{p:g}": total.get_response_time_percentile(p) for p in (0.5, 0.9, 0.95, 0.99)
        },
        "errors": [
            [_error_text(e.error), e.occurrences] for e in environment.stats.errors.values()
        ],
    }


def _write_totals(environment: Environment) -> None:
    options = environment.parsed_options
    if options is not None and options.summary_file:
        Path(options.summary_file).write_text(json.dumps(totals(environment), indent=2))


def _on(hook: EventHook, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)  # type: ignore[no-untyped-call]  # locust's hooks are untyped


_on(events.init_command_line_parser, _add_options)
_on(events.init, _on_init)
_on(events.test_start, _on_test_start)
_on(events.request, _count)
_on(events.test_stop, _stop_ticker)
