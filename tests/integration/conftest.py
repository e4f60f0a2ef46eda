"""Session-wide real servers for the literature integration tests."""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.servers import moto_server, prefect_server


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory) -> str:
    """A real Prefect server with its own PREFECT_HOME; this process's flows report to it."""
    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_server(home) as api, temporary_settings({PREFECT_API_URL: api}):
        yield api


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> str:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url
