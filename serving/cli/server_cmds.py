"""`serving server ...`: run the workspace server and manage its API tokens."""

from __future__ import annotations

import click

from serving.cli.common import (
    common,
    emit_list,
    emit_or_say,
    err,
    is_json,
    print_json,
    say,
    shows,
    workspace,
)
from serving.hub.launch import DEFAULT_PORT, HubServerOptions, check_port_free, run_foreground
from serving.hub.tokens import TokenStore

TOKEN_COLUMNS = [
    ("name", "NAME"),
    ("read_only", "READ-ONLY"),
    ("created_at", "CREATED"),
    ("last_used_at", "LAST USED"),
    ("revoked", "REVOKED"),
]


@click.group("server")
def server() -> None:
    """The workspace server: a REST API over this workspace, with tokens."""


@server.command("start")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port.")
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn workers.")
@common
def start(host: str, port: int, workers: int) -> None:
    """Serve this workspace until Ctrl-C or SIGTERM (every API call needs a token)."""
    ws = workspace()
    options = HubServerOptions(ws.path, host=host, port=port, workers=workers)
    check_port_free(options)
    say(f"Workspace {ws.name} served at {options.url}/api/v1 (Ctrl-C to stop)", console=err)
    say(f"API document: {options.url}/api/v1/openapi.json", console=err)
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(
            "warning: plain HTTP beyond this machine: tokens travel in clear text; put a "
            "TLS-terminating proxy in front",
            console=err,
        )
    if not TokenStore(ws.db).list():
        say("No token yet: create one with 'serving server tokens create NAME'", console=err)
    say("Studio pages are not served yet (a later release); use the API.", console=err)
    code = run_foreground(options)
    if code not in (0, -2, -15):
        raise click.exceptions.Exit(code)


@server.group("tokens")
def tokens() -> None:
    """API tokens: create (shown once), list, revoke."""


@tokens.command("create")
@click.argument("name")
@click.option("--read-only", is_flag=True, help="The token can read but change nothing.")
@shows
def create_token(name: str, read_only: bool) -> None:
    """Create a token NAME and print it (it is shown this once; only its hash is kept)."""
    record, token = TokenStore(workspace().db).create(name, read_only=read_only)
    kind = "read-only" if read_only else "read-write"
    if is_json():
        print_json(record.to_dict() | {"token": token})
        return
    say(token)
    say(f"({kind} token {record.name}: store it now, it is not shown again)", console=err)


@tokens.command("list")
@shows
def list_tokens() -> None:
    """List tokens (never the tokens themselves)."""
    emit_list([t.to_dict() for t in TokenStore(workspace().db).list()], TOKEN_COLUMNS)


@tokens.command("revoke")
@click.argument("name")
@shows
def revoke_token(name: str) -> None:
    """Revoke token NAME: its next API call gets 401."""
    record = TokenStore(workspace().db).revoke(name)
    emit_or_say(record.to_dict(), f"token {record.name} revoked")
