"""The workspace server: a REST API over one workspace (tokens, runs, models,
environments, images, endpoints) under Flask + gunicorn; the studio pages come next.

Routes adapt HTTP to the layers below (``serving.runs``, ``serving.registry``,
``serving.deploy.service``) and never reimplement them. See docs/workspace-server.md.
"""
