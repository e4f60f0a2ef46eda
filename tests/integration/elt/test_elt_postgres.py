"""elt-ingest on PostgreSQL 15 (warehouse, ledger and the fan-out sink): the same marts as on
DuckDB, and a failed sink retried alone."""

from __future__ import annotations

import uuid

import duckdb
import psycopg
import pytest

from flows.elt_ingest import IngestFailed, elt_ingest
from tasks.elt.dataset import load_dataset
from tasks.elt.sinks import VectorTextSink
from tasks.settings import load_settings
from tests.integration.elt.helpers import (
    COMPARED_COLUMNS,
    MARTS,
    PRODUCTS_WITH_TEXT,
    drop,
    expected,
    postgres_rows,
    totals_sql,
)

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture
def databases():
    """Fresh databases on the machine's PostgreSQL, dropped afterwards."""
    made = []

    def make() -> str:
        name = f"ki_elt_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN, autocommit=True) as con:
            con.execute(f'create database "{name}"')
        made.append(name)
        return name

    yield make
    with psycopg.connect(ADMIN, autocommit=True) as con:
        for name in made:
            con.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def postgres_elt(elt_settings, databases, monkeypatch):
    name = databases()
    for var, value in {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres",
                       "PGDATABASE": name, "KI_WAREHOUSE": "postgres"}.items():
        monkeypatch.setenv(var, value)
    return load_settings()


def test_the_real_sample_on_postgres_equals_duckdb(postgres_elt, tmp_path, monkeypatch):
    drop(postgres_elt, "sample.csv")
    summary = elt_ingest()
    assert (summary["done"], summary["new_events"], summary["reconciles"]) == (1, 1000, True)
    for mart, columns in COMPARED_COLUMNS.items():
        assert postgres_rows(mart, columns) == expected(mart), mart
    with psycopg.connect("") as con:
        on_postgres = {m: con.execute(totals_sql(m)).fetchone() for m in MARTS}
        assert con.execute("select count(*) from elt_files where state = 'done'").fetchone()[0] == 1

    monkeypatch.setenv("KI_WAREHOUSE", "duckdb")
    monkeypatch.setenv("KI_DATA_DIR", str(tmp_path / "duck"))
    duck_settings = load_settings()
    drop(duck_settings, "sample.csv")
    elt_ingest()
    with duckdb.connect(str(duck_settings.duckdb_file)) as con:
        on_duckdb = {m: con.execute(totals_sql(m)).fetchone() for m in MARTS}
    assert {m: tuple(float(v) for v in t) for m, t in on_postgres.items()} == \
        {m: tuple(float(v) for v in t) for m, t in on_duckdb.items()}


def test_a_failed_sink_is_retried_alone_and_every_sink_holds_each_record_once(
        postgres_elt, monkeypatch):
    sink_db = f"ki_elt_sink_{uuid.uuid4().hex[:8]}"  # not created yet: the sink fails
    monkeypatch.setenv("KI_ELT_POSTGRES_URL", f"host=127.0.0.1 port=5432 user=postgres dbname={sink_db}")
    drop(postgres_elt, "sample.csv")
    with pytest.raises(IngestFailed, match="postgres: OperationalError"):
        elt_ingest()
    with psycopg.connect("") as con:
        assert con.execute("select count(*) from clickstream.events").fetchone()[0] == 1000
        assert sorted(con.execute("select sink from elt_sink_writes").fetchall()) == \
            [("vector",), ("warehouse",)]
        assert con.execute("select state from elt_files").fetchall() == [("claimed",)]  # given back

    with psycopg.connect(ADMIN, autocommit=True) as con:  # the sink's database comes back
        con.execute(f'create database "{sink_db}"')
    try:
        summary = elt_ingest()
        [report] = summary["reports"]
        assert report["sinks"] == {"postgres": 1000}  # the warehouse and vectors were not written again
        assert (summary["done"], summary["reconciles"]) == (1, True)
        with psycopg.connect("") as con:
            assert con.execute("select count(*), count(distinct event_id) from clickstream.events"
                               ).fetchone() == (1000, 1000)
            assert sorted(con.execute("select sink from elt_sink_writes").fetchall()) == \
                [("postgres",), ("vector",), ("warehouse",)]
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={sink_db}") as con:
            assert con.execute("select count(*), count(distinct event_id) from public.clickstream_events"
                               ).fetchone() == (1000, 1000)
        drop(postgres_elt, "again.csv")  # a re-delivery adds nothing to either sink
        again = elt_ingest()
        assert again["reports"][0]["sinks"] == {"warehouse": 0, "postgres": 0, "vector": 0}
        vectors = VectorTextSink(postgres_elt, load_dataset("clickstream"))
        assert vectors.count() == len(PRODUCTS_WITH_TEXT)  # one vector per product with a category or brand
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as con:
            con.execute(f'drop database if exists "{sink_db}" with (force)')
