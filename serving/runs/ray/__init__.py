"""Ray compute: runs and trials as Ray jobs on a Ray cluster (see docs/ray.md).

The platform talks to the cluster through Ray's Jobs REST API on the head's dashboard
port (:mod:`serving.runs.ray.jobs_api`), so its own environment never needs ``ray``;
only the nodes do (:mod:`serving.runs.ray.image`).
"""
