"""Small read-only queries against the warehouse marts (DuckDB or Postgres).

Used for run artifacts (what a sync inserted or updated) and by the demo; the
marts themselves are built by dbt only.
"""

from __future__ import annotations

import duckdb
import psycopg

from tasks.settings import Settings

MART = "scientific_documents"


def connect_duckdb(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The DuckDB warehouse, without the progress bar DuckDB would print into run logs."""
    con = duckdb.connect(str(settings.duckdb_file))
    con.execute("set enable_progress_bar = false")  # a connection option; config= refuses it
    return con


def _duckdb_rows(settings: Settings, sql: str, params: list) -> list[tuple]:
    if not settings.duckdb_file.exists():
        return []
    with connect_duckdb(settings) as con:
        found = con.execute(
            "select count(*) from information_schema.tables where table_name = ?", [MART]
        ).fetchone()[0]
        return con.execute(sql.format(mart=f"main.{MART}"), params).fetchall() if found else []


def _postgres_rows(settings: Settings, sql: str, params: list) -> list[tuple]:
    # libpq takes host, user, password … from the standard PG* environment variables.
    schema = settings.warehouse_schema
    with psycopg.connect("") as con:
        exists = con.execute("select to_regclass(%s)", [f"{schema}.{MART}"]).fetchone()[0]
        if exists is None:
            return []
        return con.execute(sql.replace("?", "%s").format(mart=f"{schema}.{MART}"), params).fetchall()


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Run ``sql`` (``{mart}`` placeholder, ``?`` parameters) against the configured warehouse."""
    run = _postgres_rows if settings.warehouse == "postgres" else _duckdb_rows
    return run(settings, sql, params or [])


def mart_versions(settings: Settings, document_ids: list[str]) -> dict[str, str]:
    """document_id → record_hash currently in the mart, for the given ids."""
    if not document_ids:
        return {}
    rows = query(
        settings,
        "select document_id, record_hash from {mart} where document_id in (select unnest(?::varchar[]))",
        [document_ids],
    )
    return dict(rows)


def mart_row_count(settings: Settings) -> int:
    rows = query(settings, "select count(*) from {mart}")
    return rows[0][0] if rows else 0


def mart_changes(before: dict[str, str], after: dict[str, str]) -> tuple[int, int]:
    """(inserted, updated) between two snapshots of the same ids' record hashes."""
    inserted = sum(1 for d in after if d not in before)
    updated = sum(1 for d, h in after.items() if d in before and before[d] != h)
    return inserted, updated
