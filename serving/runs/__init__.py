"""Experiments and training runs: the upstream half that produces registered models.

``store`` (rows and run folders), ``metrics`` (the append-only metrics file), ``logger``
(the logging API of a run), ``submit`` and ``supervisor`` (a detached process per run),
``plan`` and the executors (``local_exec``, ``docker_exec``), ``datastores``,
``datasets`` (registered dataset definitions), ``compute``.
The SDK's ``Run`` and ``Experiment`` (``serving.sdk``) sit on top. Modules imported by
training scripts use only the standard library and the workspace layer.
"""
