"""``python -m serving.edge.runtime``: the model image in edge mode.

Loads the entry script as the HTTP server does (settings from ``ServerSettings.from_env()``,
the ``azureml`` shims, init() once), serves health and metrics on ``SERVING_PORT``, then
runs the bridge: through the edge hub when the ``IOTEDGE_*`` variables say an Azure IoT Edge
runtime started the module, else through the MQTT broker named by ``SERVING_EDGE_*``.
SIGTERM stops it cleanly; a failed init() exits with code 3 like the HTTP server.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from serving.config import ServerSettings
from serving.edge.runtime.bridge import Bridge
from serving.edge.runtime.iothub import in_iot_edge, run_iothub
from serving.edge.runtime.mqtt import make_client
from serving.edge.runtime.outbox import Outbox
from serving.edge.runtime.settings import EdgeSettings
from serving.edge.runtime.status import EdgeMetrics, start_status_server
from serving.scoring import InputMode, Scorer
from serving.server.logs import configure_logging, describe_tree, route_prints_to_log

BOOT_ERROR = 3
_log = logging.getLogger("serving.edge")


def load_scorer(settings: ServerSettings) -> Scorer:
    """The entry script loaded and initialised; exits with :data:`BOOT_ERROR` on failure."""
    try:
        scorer = Scorer.from_settings(settings)
        if scorer.mode is InputMode.RAWHTTP:
            raise SystemExit("edge mode cannot call a rawhttp run(): it needs an HTTP request")
        scorer.initialize()
    except BaseException as exc:
        _log.critical(
            "the entry script %s/%s failed to start",
            settings.app_root,
            settings.entry_script,
            exc_info=exc,
        )
        model_dir = settings.model_dir
        _log.critical("%s", describe_tree(Path(model_dir) if model_dir else None))
        sys.exit(BOOT_ERROR)
    return scorer


SWITCH_INTERVAL_S = 0.0005
"""Python's default (5 ms) lets a busy thread hold the interpreter that long while paho's
network thread waits with a message to read or write: a shorter one cuts the latency."""


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    server_settings = ServerSettings.from_env()
    configure_logging(server_settings.log_level)
    route_prints_to_log()
    settings = EdgeSettings.from_env()
    scorer = load_scorer(server_settings)
    metrics = EdgeMetrics()
    if in_iot_edge(os.environ):
        start_status_server(server_settings.port, metrics, lambda: scorer.ready)
        run_iothub(settings, scorer, metrics)
        return
    outbox = Outbox(settings.data_dir, ttl_s=settings.ttl_s, max_rows=settings.outbox_max)
    bridge = Bridge(
        settings, scorer, outbox, metrics, make_client(settings.client_id, manual_ack=True)
    )
    start_status_server(server_settings.port, metrics, lambda: bridge.ready)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        bridge.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _log.info(
        "edge module %s: inputs %s, results to %s",
        settings.module,
        settings.topics.inputs(settings.module),
        settings.topics.output(settings.module, settings.output),
    )
    bridge.run()


if __name__ == "__main__":
    main()
