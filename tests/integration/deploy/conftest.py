"""One platform (stack.platform) per test module, with this process's client pointed at it.

Its own server, not the session's ``prefect_api``: automations react to every matching
event on their server, and other tests run literature-sync deployments there.
"""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.integration.deploy.stack import Stack, platform, wait_until_idle


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    with platform(tmp_path_factory.mktemp("automations-e2e")) as running, \
            pytest.MonkeyPatch.context() as env, temporary_settings({PREFECT_API_URL: running.api_url}):
        env.setenv("PREFECT_API_URL", running.api_url)
        yield running
        wait_until_idle(timeout=180)
