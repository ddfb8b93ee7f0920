"""The studio: server-rendered pages of the workspace (experiments, runs with metric
charts, sweeps, pipelines, models, endpoints) under ``/studio`` of the workspace server,
signed in with a token. :func:`serving.hub.studio.web.register` adds it to an app."""
