"""The ``kubernetes`` target: manifests, their validation against the API types, applying
them to a cluster (see :mod:`serving.deploy.kubernetes.target`)."""
