"""The registry commands run against a workspace folder and a workspace server
(:mod:`tests.remote_fixtures`); tests marked ``folder_only`` need the folder itself."""

from tests.remote_fixtures import (  # noqa: F401  (fixtures and hooks)
    backing,
    cli,
    hub_server,
    pytest_configure,
    pytest_generate_tests,
    ws,
)
