"""The ``cluster`` target: replicas behind an HAProxy balancer, kept healthy by a
supervisor process (see :mod:`serving.deploy.cluster.target`)."""
