"""Load-test a scoring endpoint by hand with locust (``serving loadtest`` runs the same file).

    locust -f loadtests/locustfile.py --headless -u 20 -r 10 -t 30s \\
        --host http://127.0.0.1:5001 --payload scoring_templates/sklearn/sample-request.json \\
        --key "$KEY"

``--host`` is the server's base URL; the scoring path is ``--scoring-path`` (``/score``).
``--payload`` is a JSON body or JSON lines (cycled through); without it the swagger example
is sent. Each option also reads an environment variable: SERVING_LOADTEST_PAYLOAD,
SERVING_LOADTEST_KEY, SERVING_LOADTEST_PATH. Without ``--headless`` locust's web UI shows
the same options. The code lives in ``serving/loadtest/locustfile.py``.
"""

from serving.loadtest.locustfile import *  # noqa: F403  (locust finds ScoringUser here)
