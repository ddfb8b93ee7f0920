"""Shared CLI plumbing: global options, workspace lookup, output (table or JSON).

User text (names, descriptions, tags, paths, server answers) is printed as plain text:
every table cell and message built here is a rich :class:`~rich.text.Text` (no markup is
interpreted, so ``[/x]`` or ``[bold]`` print as written) made by :func:`plain`, which also
replaces control characters (``\\x1b``, ``\\a``, ``\\r`` ...) and bidirectional overrides by
visible escapes, so nothing a user stored can drive the terminal. Commands print tables
with :func:`emit_list` / :func:`emit_one` / :func:`print_table` and lines with :func:`say`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from serving.config import PlatformSettings, is_server_url
from serving.hub.remote.workspace import RemoteWorkspace, not_remote, open_remote
from serving.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
"""Characters a terminal acts on: C0/C1 controls (all but tab and newline), DEL, and the
bidirectional marks and overrides that reorder what is shown."""


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def sanitize(text: str) -> str:
    """``text`` with every control character replaced by a visible escape (``\\x1b``)."""
    return _UNSAFE.sub(_visible, text)


def plain(value: object, style: str = "") -> Text:
    """User text as a rich Text: markup is not interpreted, control characters are escaped."""
    return Text(sanitize(value if isinstance(value, str) else str(value)), style=style)


def say(*parts: object, console: Console | None = None) -> None:
    """Print ``parts`` (joined by spaces) as one plain line on stdout (or ``console``)."""
    (console or out).print(plain(" ".join(str(p) for p in parts)), highlight=False)


def _store(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value not in (None, False):
            ctx.meta[key] = value
        return value

    return callback


workspace_option = click.option(
    "--workspace",
    "-w",
    expose_value=False,
    is_eager=True,
    callback=_store("workspace"),
    metavar="PATH|URL",
    help="Workspace folder, or a workspace server's http(s):// URL (token: SERVING_TOKEN) "
    "(else SERVING_WORKSPACE, the nearest .serving/, or the default).",
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


def options(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """Several click options as one decorator, in the order given (as in ``--help``)."""

    def apply(fn: F) -> F:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


model_option = click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    required=True,
    metavar="NAME[:VERSION]",
    help="Registered model (repeatable); the latest version without one.",
)
source_dir_option = click.option(
    "--source-dir",
    type=click.Path(path_type=Path),
    help="Folder copied with the script (the script is looked up inside it).",
)
batch_options = options(
    click.option(
        "--max-batch-size",
        type=click.IntRange(1, 1024),
        help="Dynamic batching: gather up to this many concurrent requests into one model "
        "call (no-code and run_v2 scripts; off by default).",
    ),
    click.option(
        "--max-batch-delay-ms",
        type=click.FloatRange(0, 10_000),
        help="How long a batch waits for more requests after its first (with --max-batch-size).",
    ),
)
"""--max-batch-size and --max-batch-delay-ms (None when not given)."""

app_inputs = options(
    model_option,
    click.option(
        "--entry-script",
        required=True,
        type=click.Path(path_type=Path),
        help="The score.py with init() and run().",
    ),
    source_dir_option,
    click.option(
        "--env",
        "env",
        required=True,
        metavar="FILE|NAME[:VERSION]",
        help="A conda env.yml / requirements.txt, or a registered environment.",
    ),
)
"""--model, --entry-script, --source-dir and --env: what a model image or an endpoint is
made of (``serving deploy``, ``images build``, ``images package``)."""


def _server_url(ctx: click.Context) -> str | None:
    """The workspace server named by ``--workspace`` or ``SERVING_WORKSPACE``, if any."""
    given = ctx.meta.get("workspace")
    if given is not None:
        return str(given) if is_server_url(given) else None
    return PlatformSettings.from_env().workspace_url


def any_workspace(ctx: click.Context | None = None) -> Workspace | RemoteWorkspace:
    """The workspace of a command that works against a folder and a server alike: a
    :class:`RemoteWorkspace` when ``--workspace``/``SERVING_WORKSPACE`` is a URL."""
    ctx = ctx or click.get_current_context()
    cached = ctx.meta.get("workspace_obj")
    if isinstance(cached, Workspace | RemoteWorkspace):
        return cached
    url = _server_url(ctx)
    ws = open_remote(url) if url is not None else workspace(ctx)
    ctx.meta["workspace_obj"] = ws
    return ws


def workspace(ctx: click.Context | None = None) -> Workspace:
    """The workspace folder; a command that needs one refuses a server in one line."""
    ctx = ctx or click.get_current_context()
    cached = ctx.meta.get("workspace_obj")
    if isinstance(cached, Workspace):
        return cached
    url = _server_url(ctx)
    if url is not None:
        raise not_remote(f"'serving {ctx.command_path.partition(' ')[2]}'", url)
    given = ctx.meta.get("workspace")
    ws = Workspace.discover(None if given is None else Path(given))
    ctx.meta["workspace_obj"] = ws
    return ws


def is_json(ctx: click.Context | None = None) -> bool:
    ctx = ctx or click.get_current_context()
    return ctx.meta.get("format") == "json"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _cell(value: Any) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, dict):
        return plain(", ".join(f"{k}={v}" for k, v in value.items()))
    if isinstance(value, list | tuple):
        return plain(", ".join(str(v) for v in value))
    return plain(value)


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    justify: Sequence[JustifyMethod] = (),
    console: Console | None = None,
) -> None:
    """A borderless table whose every cell is plain text (see :func:`plain`)."""
    table = Table(show_edge=False, pad_edge=False, box=None)
    for index, header in enumerate(headers):
        how = justify[index] if index < len(justify) else "left"
        table.add_column(plain(header), overflow="fold", justify=how)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    (console or out).print(table)


def emit_list(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """Print rows as JSON (all keys) or as a table of ``columns`` (key, header)."""
    if is_json():
        print_json(list(rows))
        return
    if not rows:
        err.print("(none)")
        return
    print_table(
        [header for _key, header in columns],
        ([row.get(key) for key, _ in columns] for row in rows),
    )


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
            cell = Text("\n").join(
                plain(f"{f['path']}  {f['size_bytes']} B  sha256:{f['sha256'][:12]}") for f in value
            )
        else:
            cell = _cell(value)
        table.add_row(plain(key), cell)
    out.print(table)


def emit_or_say(data: dict[str, Any], line: str) -> None:
    """``data`` as JSON with -o json, else ``line`` as one plain line."""
    if is_json():
        print_json(data)
    else:
        say(line)


def notice(message: str) -> None:
    err.print(Text.assemble(("notice:", "yellow"), " ", plain(message)), highlight=False)


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
                status.update(plain(f"{title}: {line.strip()[:120]}"))

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
                say(title, console=err)
                started = True
            say(f"  {line.rstrip()}", console=err)

        yield show_line
