"""Small read-only queries against the warehouse marts (DuckDB or Postgres).

Used for run artifacts (what a sync inserted or updated) and by the demo; the
marts themselves are built by dbt only.
"""

from __future__ import annotations

import duckdb
import psycopg

from tasks.settings import Settings
from tasks.tables import DOCUMENTS, Table

MART = DOCUMENTS.mart


def connect_duckdb(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The DuckDB warehouse, without the progress bar DuckDB would print into run logs."""
    con = duckdb.connect(str(settings.duckdb_file))
    con.execute("set enable_progress_bar = false")  # a connection option; config= refuses it
    return con


def _duckdb_rows(settings: Settings, sql: str, params: list, mart: str) -> list[tuple]:
    if not settings.duckdb_file.exists():
        return []
    with connect_duckdb(settings) as con:
        found = con.execute(
            "select count(*) from information_schema.tables where table_name = ?", [mart]
        ).fetchone()[0]
        return con.execute(sql.format(mart=f"main.{mart}"), params).fetchall() if found else []


def _postgres_rows(settings: Settings, sql: str, params: list, mart: str) -> list[tuple]:
    # libpq takes host, user, password … from the standard PG* environment variables.
    schema = settings.warehouse_schema
    with psycopg.connect("") as con:
        exists = con.execute("select to_regclass(%s)", [f"{schema}.{mart}"]).fetchone()[0]
        if exists is None:
            return []
        return con.execute(sql.replace("?", "%s").format(mart=f"{schema}.{mart}"), params).fetchall()


def query(settings: Settings, sql: str, params: list | None = None, *, mart: str = MART) -> list[tuple]:
    """Run ``sql`` (``{mart}`` placeholder, ``?`` parameters) against the configured warehouse;
    no rows while the mart has not been built."""
    run = _postgres_rows if settings.warehouse == "postgres" else _duckdb_rows
    return run(settings, sql, params or [], mart)


def mart_versions(settings: Settings, table: Table, keys: list[str]) -> dict[str, str]:
    """key → record_hash currently in ``table``'s mart, for the given keys."""
    if not keys:
        return {}
    rows = query(
        settings,
        f"select {table.key}, record_hash from {{mart}} where {table.key} in (select unnest(?::varchar[]))",
        [keys], mart=table.mart,
    )
    return dict(rows)


def mart_row_count(settings: Settings, table: Table = DOCUMENTS) -> int:
    rows = query(settings, "select count(*) from {mart}", mart=table.mart)
    return rows[0][0] if rows else 0


def mart_changes(before: dict[str, str], after: dict[str, str]) -> tuple[int, int]:
    """(inserted, updated) between two snapshots of the same ids' record hashes."""
    inserted = sum(1 for d in after if d not in before)
    updated = sum(1 for d, h in after.items() if d in before and before[d] != h)
    return inserted, updated
