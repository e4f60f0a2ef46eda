"""The dbt project on the Postgres target (local PostgreSQL 15) gives the same marts as DuckDB."""

import uuid
from datetime import date

import duckdb
import psycopg
import pytest

from flows.literature_sync import literature_sync
from tasks.literature.sources.replay import RECORDINGS
from tasks.settings import Settings
from tasks.warehouse.dbt import ELT_MODELS, run_dbt

WINDOW = {"since": date(2000, 1, 1), "until": date(2026, 1, 1), "replay_dir": str(RECORDINGS)}
MARTS = ("scientific_documents", "graph_nodes", "graph_edges")


@pytest.fixture
def postgres_warehouse(tmp_path, monkeypatch):
    """A database of its own on the machine's PostgreSQL, dropped afterwards."""
    name = f"ki_test_{uuid.uuid4().hex[:10]}"
    admin = "host=127.0.0.1 port=5432 user=postgres dbname=test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    for var, value in {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres",
                       "PGDATABASE": name, "KI_WAREHOUSE": "postgres", "KI_DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(var, value)
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


def postgres_counts() -> dict[str, int]:
    with psycopg.connect("") as conn:
        return {m: conn.execute(f"select count(*) from analytics.{m}").fetchone()[0] for m in MARTS}


def test_postgres_marts_match_duckdb_on_the_same_lake(postgres_warehouse, prefect_api, tmp_path):
    for source in ("openalex", "arxiv", "pubmed"):
        literature_sync(source=source, build_marts=source == "pubmed", **WINDOW)
    literature_sync(source="pubmed", build_marts=False, **WINDOW)  # re-load: replaces, never duplicates
    with psycopg.connect("") as conn:
        assert conn.execute("select count(*) from lake.documents").fetchone()[0] == 14

    run_dbt(Settings(warehouse="duckdb", data_dir=tmp_path), ["build", "--exclude", ELT_MODELS])
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        duck = {m: con.execute(f"select count(*) from main.{m}").fetchone()[0] for m in MARTS}

    assert duck["scientific_documents"] == 14
    assert postgres_counts() == duck
