"""The `serving` command: a click group whose commands are thin calls into the layers.

Errors: a :class:`serving.errors.ServingError` prints ``error: <message>`` on one line and
exits with its code; usage errors exit 2; anything unexpected prints one line too, with the
traceback only under ``--debug`` or ``SERVING_DEBUG=1``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from serving import __version__
from serving.cli.common import debug_option, err, format_option, say, workspace_option
from serving.cli.compute import compute
from serving.cli.datastores import datastores
from serving.cli.edge import edge
from serving.cli.endpoint_data import data as endpoint_data
from serving.cli.endpoints import deploy, endpoints
from serving.cli.envs import envs
from serving.cli.loadtest import loadtest
from serving.cli.models import models
from serving.cli.monitor import monitor
from serving.cli.pipelines import pipelines
from serving.cli.runs import experiments, runs
from serving.cli.server_cmds import server
from serving.cli.sweeps import sweeps
from serving.cli.workspace_cmds import workspace_group
from serving.config import PlatformSettings
from serving.errors import ServingError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="serving")
@workspace_option
@format_option
@debug_option
def cli() -> None:
    """Self-hosted model serving: register models, build images, deploy, score."""


cli.add_command(workspace_group)
cli.add_command(models)
cli.add_command(envs)
cli.add_command(deploy)
cli.add_command(endpoints)
cli.add_command(loadtest)
cli.add_command(compute)
cli.add_command(datastores)
cli.add_command(runs)
cli.add_command(experiments)
cli.add_command(pipelines)
cli.add_command(sweeps)
cli.add_command(edge)
cli.add_command(monitor)
cli.add_command(server)
endpoints.add_command(endpoint_data)


def _register_optional() -> None:
    """Commands whose layers may be absent from a slim install are added when importable."""
    from serving.cli import extra_commands

    for command in extra_commands():
        cli.add_command(command)


def _debug_wanted(argv: Sequence[str]) -> bool:
    return "--debug" in argv or PlatformSettings.from_env().debug


def _fail(message: str, code: int) -> int:
    say(f"error: {message}", console=err)  # err wraps softly: one line
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_wanted(args)
    try:
        _register_optional()
        result = cli.main(args=args, prog_name="serving", standalone_mode=False)
    except ServingError as exc:
        if debug:
            traceback.print_exc()
        if exc.details:
            say(exc.details.rstrip(), console=err)
        return _fail(exc.one_line(), exc.exit_code)
    except click.exceptions.Abort:
        return _fail("aborted", 130)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        return _fail(f"{message}{where}", exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            traceback.print_exc()
        detail = " ".join(str(exc).split())
        return _fail(
            f"internal error: {type(exc).__name__}: {detail} (rerun with --debug for details)",
            1,
        )
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
