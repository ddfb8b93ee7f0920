"""Settings of an edge module process, from ``SERVING_EDGE_*`` variables (one typed object,
read once at start; the scoring settings stay :class:`serving.config.ServerSettings`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from serving.edge.runtime.routes import Route, parse_routes
from serving.edge.runtime.topics import (
    DEFAULT_ERROR_OUTPUT,
    DEFAULT_INPUT,
    DEFAULT_OUTPUT,
    DEFAULT_PREFIX,
    Topics,
)
from serving.errors import UserInputError

DEFAULT_TTL_S = 7200
"""Time to live of a result waiting for the broker (the edge hub's default)."""
MAX_MESSAGE_BYTES = 256 * 1024
"""Largest message body accepted (IoT Edge's limit); larger ones go to the error output."""
DATA_DIR = "/var/lib/serving-edge"
"""Where the module keeps its outbox (a folder mounted from the host)."""


@dataclass(frozen=True)
class EdgeSettings:
    """One module's connection, names and store-and-forward limits."""

    broker_host: str = "broker"
    """SERVING_EDGE_BROKER_HOST: the broker's host name on the deployment's network."""
    broker_port: int = 1883
    """SERVING_EDGE_BROKER_PORT."""
    device: str = "edge"
    """SERVING_EDGE_DEVICE: the deployment name, the second part of every topic."""
    prefix: str = DEFAULT_PREFIX
    """SERVING_EDGE_PREFIX: the first part of every topic."""
    module: str = "machinelearningmodule"
    """SERVING_EDGE_MODULE: this module's name (its topics and MQTT client id)."""
    output: str = DEFAULT_OUTPUT
    """SERVING_EDGE_OUTPUT: where results go."""
    error_output: str = DEFAULT_ERROR_OUTPUT
    """SERVING_EDGE_ERROR_OUTPUT: where messages that failed go, with the error."""
    input: str = DEFAULT_INPUT
    """SERVING_EDGE_INPUT: the input documented for senders (every input is scored)."""
    ttl_s: float = DEFAULT_TTL_S
    """SERVING_EDGE_TTL_S: how long a result may wait for the broker before it is dropped."""
    outbox_max: int = 100_000
    """SERVING_EDGE_OUTBOX_MAX: most results kept waiting; past it the oldest are dropped."""
    max_message_bytes: int = MAX_MESSAGE_BYTES
    """SERVING_EDGE_MAX_MESSAGE_BYTES."""
    data_dir: Path = Path(DATA_DIR)
    """SERVING_EDGE_DATA_DIR: the outbox's folder."""
    routes: str = "{}"
    """SERVING_EDGE_ROUTES: the deployment's routes, JSON ``{"name": "FROM ... INTO ..."}``."""

    def parsed_routes(self) -> list[Route]:
        try:
            routes = json.loads(self.routes)
        except ValueError as exc:
            raise UserInputError(f"SERVING_EDGE_ROUTES is not JSON: {exc}") from None
        return parse_routes(routes)

    @property
    def topics(self) -> Topics:
        return Topics(self.device, self.prefix)

    @property
    def client_id(self) -> str:
        """Fixed, so the broker keeps the module's session (and queued inputs) across
        restarts."""
        return f"{self.device}/{self.module}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EdgeSettings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return env.get(f"SERVING_EDGE_{name}", default)

        try:
            return cls(
                broker_host=get("BROKER_HOST", cls.broker_host),
                broker_port=int(get("BROKER_PORT", str(cls.broker_port))),
                device=get("DEVICE", cls.device),
                prefix=get("PREFIX", cls.prefix),
                module=get("MODULE", cls.module),
                output=get("OUTPUT", cls.output),
                error_output=get("ERROR_OUTPUT", cls.error_output),
                input=get("INPUT", cls.input),
                ttl_s=float(get("TTL_S", str(cls.ttl_s))),
                outbox_max=int(get("OUTBOX_MAX", str(cls.outbox_max))),
                max_message_bytes=int(get("MAX_MESSAGE_BYTES", str(cls.max_message_bytes))),
                data_dir=Path(get("DATA_DIR", DATA_DIR)),
                routes=get("ROUTES", "{}"),
            )
        except ValueError as exc:
            raise UserInputError(f"bad SERVING_EDGE_* setting: {exc}") from None

    def to_env(self) -> dict[str, str]:
        """The variables that give these settings back (for containers)."""
        return {
            "SERVING_EDGE_BROKER_HOST": self.broker_host,
            "SERVING_EDGE_BROKER_PORT": str(self.broker_port),
            "SERVING_EDGE_DEVICE": self.device,
            "SERVING_EDGE_PREFIX": self.prefix,
            "SERVING_EDGE_MODULE": self.module,
            "SERVING_EDGE_OUTPUT": self.output,
            "SERVING_EDGE_ERROR_OUTPUT": self.error_output,
            "SERVING_EDGE_INPUT": self.input,
            "SERVING_EDGE_TTL_S": f"{self.ttl_s:g}",
            "SERVING_EDGE_OUTBOX_MAX": str(self.outbox_max),
            "SERVING_EDGE_MAX_MESSAGE_BYTES": str(self.max_message_bytes),
            "SERVING_EDGE_DATA_DIR": str(self.data_dir),
            "SERVING_EDGE_ROUTES": self.routes,
        }
