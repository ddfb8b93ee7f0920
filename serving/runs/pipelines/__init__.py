"""Pipelines: steps (script runs) connected by the data they produce and consume, run by a
detached driver (``python -m serving.runs.pipelines.driver WORKSPACE RUN_ID``), with Azure
ML v1's step reuse.

spec       the pipeline as data (steps, ports, parameters), what the SDK and YAML build
graph      validation (unconnected inputs, cycles, missing parameters) and step order
reuse      each step's reuse key and fingerprint, the earlier run it may reuse, and why not
driver     the pipeline run's owner process: reuses, submits, stops dependants of failures
yaml_form  the YAML form of a pipeline, for ``serving pipelines run pipeline.yml``
"""
