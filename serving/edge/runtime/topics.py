"""The topic scheme, mirroring the IoT Edge hub's names on plain MQTT.

``{prefix}/{device}/modules/{module}/inputs/{input}`` and ``.../outputs/{output}`` are the
two ends of a route; ``{prefix}/{device}/upstream`` stands for ``$upstream`` (the broker
can bridge it to another broker). Message ids and correlation ids travel as MQTT 5 user
properties named like the hub's system properties (``$.mid``, ``$.cid``), not in the
topic: MQTT 5 has a place for them.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "serving"
MESSAGE_ID = "$.mid"
CORRELATION_ID = "$.cid"
RESPONSE_PROPERTY = "AzureMLResponse"
"""Set to ``OK`` on every result of a run() that returned, as Azure ML's module did."""
DEFAULT_INPUT = "amlInput"
DEFAULT_OUTPUT = "amlOutput"
DEFAULT_ERROR_OUTPUT = "amlError"


@dataclass(frozen=True)
class Topics:
    """The topics of one edge deployment (a "device")."""

    device: str
    prefix: str = DEFAULT_PREFIX

    def module(self, module: str) -> str:
        return f"{self.prefix}/{self.device}/modules/{module}"

    def input(self, module: str, name: str) -> str:
        """Where messages for input ``name`` of ``module`` are published."""
        return f"{self.module(module)}/inputs/{name}"

    def inputs(self, module: str) -> str:
        """The filter a module subscribes to: all of its inputs."""
        return f"{self.module(module)}/inputs/+"

    def output(self, module: str, name: str) -> str:
        """Where ``module`` publishes what it sends on output ``name``."""
        return f"{self.module(module)}/outputs/{name}"

    def outputs(self, module: str | None = None) -> str:
        """The filter of every output of ``module`` (of every module when None)."""
        return f"{self.module(module or '+')}/outputs/+"

    @property
    def upstream(self) -> str:
        """The topic standing for ``$upstream``."""
        return f"{self.prefix}/{self.device}/upstream"

    def input_name(self, topic: str) -> str:
        """The input name at the end of an input topic (``""`` for another topic)."""
        head, sep, name = topic.rpartition("/inputs/")
        return name if sep and head.startswith(f"{self.prefix}/{self.device}/") else ""
