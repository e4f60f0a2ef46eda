"""Session-wide real servers for the literature integration tests."""

from __future__ import annotations

import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogHandler
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.servers import moto_server, prefect_server


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory) -> str:
    """A real Prefect server with its own PREFECT_HOME; this process's flows report to it.

    Exported to the environment too: prefect-dbt creates task runs from dbt's own
    threads, which read settings from the environment, not from this context.
    """
    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as env, prefect_server(home) as api:
        env.setenv("PREFECT_API_URL", api)
        with temporary_settings({PREFECT_API_URL: api}):
            yield api
            # Ship buffered run logs and events while the server is still up.
            APILogHandler().flush()
            EventsWorker.drain_all(timeout=10)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> str:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url
