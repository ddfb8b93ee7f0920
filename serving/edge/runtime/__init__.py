"""The edge module runtime, run inside model images: ``python -m serving.edge.runtime``.

Imports the scoring code, the server's logging helpers, prometheus-client and paho-mqtt
only (never the host-side parts of :mod:`serving.edge`).
"""
