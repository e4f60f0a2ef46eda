"""ELT tests run their flows against the session's real Prefect server, one lake each."""

from __future__ import annotations

import pytest

from tasks.settings import Settings, load_settings


@pytest.fixture
def elt_settings(tmp_path, monkeypatch, prefect_api) -> Settings:
    """Embedded defaults in a fresh data dir: local lake, DuckDB warehouse, SQLite ledger."""
    monkeypatch.setenv("KI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no model hub here: the vector sink uses the packaged model
    for name in ("KI_LAKE_URL", "KI_WAREHOUSE", "KI_ELT_POSTGRES_URL", "KI_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    return load_settings()
