"""A workspace server for one run's lifetime: ``python -m serving.hub.run_server WORKSPACE``.

A run on a Ray cluster reports through the workspace API (its node has no workspace
folder). When the workspace is a folder with no ``serving server start`` in front of it,
the run's supervisor starts this process for the run: it serves the whole API on
127.0.0.1 on a port the kernel picks, prints that port as its first line, and stops when
its standard input closes: the supervisor closes it when the run has ended, and a
supervisor killed outright closes it too, so the server never outlives its run. The run's
token (minted by the supervisor) is the only one handed out.

Served by werkzeug's threaded server (flask's own dependency): one run's reporting calls
are few and short, and gunicorn would need its port chosen in advance. The hub sits above
the runs layer, so runs start this as a program and never import it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

from werkzeug.serving import make_server

from serving.hub.app import create_app
from serving.workspace import Workspace


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m serving.hub.run_server WORKSPACE", file=sys.stderr)
        return 2
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, create_app(Workspace.open(Path(args[0]))), threaded=True)
    threading.Thread(target=server.serve_forever, name="run-server", daemon=True).start()
    print(server.server_port, flush=True)
    os.dup2(2, 1)  # nobody reads stdout after the port: later prints go to the log
    sys.stdin.buffer.read()  # until the supervisor closes it (or is gone)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
