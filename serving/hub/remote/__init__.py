"""The remote side of the workspace server: what the CLI and SDK use when the workspace is
a URL (``--workspace http://host:port``, ``SERVING_WORKSPACE``, a ``config.json`` naming a
server). :mod:`.transport` is the one place that speaks HTTP to the server."""
