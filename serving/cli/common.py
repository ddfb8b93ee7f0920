"""Shared CLI plumbing: global options, workspace lookup, output (table or JSON)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from serving.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _store(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value not in (None, False):
            ctx.meta[key] = value
        return value

    return callback


workspace_option = click.option(
    "--workspace",
    "-w",
    type=click.Path(path_type=Path),
    expose_value=False,
    is_eager=True,
    callback=_store("workspace"),
    metavar="PATH",
    help="Workspace folder (else SERVING_WORKSPACE, the nearest .serving/, or the default).",
)
format_option = click.option(
    "-o",
    "--format",
    type=click.Choice(["table", "json"]),
    expose_value=False,
    callback=_store("format"),
    help="Output format.",
)
debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_store("debug"),
    help="Show tracebacks for errors.",
)


def common(fn: F) -> F:
    """--workspace and --debug on a command (they are accepted on the group too)."""
    return workspace_option(debug_option(fn))


def shows(fn: F) -> F:
    """A command that shows or lists things: also -o json."""
    return common(format_option(fn))


def workspace(ctx: click.Context | None = None) -> Workspace:
    ctx = ctx or click.get_current_context()
    cached = ctx.meta.get("workspace_obj")
    if isinstance(cached, Workspace):
        return cached
    ws = Workspace.discover(ctx.meta.get("workspace"))
    ctx.meta["workspace_obj"] = ws
    return ws


def is_json(ctx: click.Context | None = None) -> bool:
    ctx = ctx or click.get_current_context()
    return ctx.meta.get("format") == "json"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def emit_list(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """Print rows as JSON (all keys) or as a table of ``columns`` (key, header)."""
    if is_json():
        print_json(list(rows))
        return
    if not rows:
        err.print("(none)")
        return
    table = Table(show_edge=False, pad_edge=False, box=None)
    for _key, header in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key, _ in columns))
    out.print(table)


def emit_one(data: dict[str, Any], skip: Sequence[str] = ()) -> None:
    """Print one object as JSON or as aligned key/value lines."""
    if is_json():
        print_json(data)
        return
    table = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in data.items():
        if key in skip:
            continue
        if key == "files" and isinstance(value, list):
            value = "\n".join(
                f"{f['path']}  {f['size_bytes']} B  sha256:{f['sha256'][:12]}" for f in value
            )
        table.add_row(key, _cell(value))
    out.print(table)


def notice(message: str) -> None:
    err.print(f"[yellow]notice:[/] {message}", highlight=False)


@contextmanager
def byte_progress(
    label: str, min_bytes: int = 8 * 1024 * 1024
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for copies, shown once the total is at least ``min_bytes``."""
    progress: Progress | None = None
    task = None

    def update(done: int, total: int) -> None:
        nonlocal progress, task
        if total < min_bytes:
            return
        if progress is None:
            progress = Progress(
                TextColumn(label),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            )
            progress.start()
            task = progress.add_task(label, total=total)
        if task is not None:
            progress.update(task, completed=done)

    try:
        yield update
    finally:
        if progress is not None:
            progress.stop()


_PIP_NOISE = re.compile(
    r"^\s*(Downloading|Using cached|Requirement already satisfied|Obtaining|Preparing "
    r"metadata|Getting requirements|Installing build|Building wheel|Created wheel|Stored in|"
    r"Collecting|Attempting uninstall|Found existing|Uninstalling|Successfully uninstalled)"
)
"""pip lines not worth a line each in a log (the spinner of a terminal still shows them)."""


@contextmanager
def step_progress(title: str) -> Iterator[Callable[[str], None]]:
    """Shows the latest progress line under a spinner (a terminal) or each line (a log)."""
    if err.is_terminal:
        with err.status(title) as status:

            def show(line: str) -> None:
                # a Text is shown as is: no markup or :emoji: codes in build output
                status.update(Text(f"{title}: {line.strip()[:120]}"))

            yield show
    else:
        # the title goes out with the first line, so errors found before any work
        # (bad names, missing files) stay a single line
        started = False

        def show_line(line: str) -> None:
            nonlocal started
            if _PIP_NOISE.match(line):
                return
            if not started:
                err.print(title, highlight=False, markup=False, emoji=False)
                started = True
            err.print(f"  {line.rstrip()}", highlight=False, markup=False, emoji=False)

        yield show_line
