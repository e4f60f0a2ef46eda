"""Load a window's processed Parquet into the Postgres warehouse's ``lake.documents``.

DuckDB reads the lake's Parquet in place; Postgres cannot, so on that target each
processed file is copied into ``lake.documents`` (the dbt source) first. A file is
one (source, run_id): it replaces its previous load in one transaction, so
re-running a window never duplicates rows and readers never see half a load.
"""

from __future__ import annotations

import psycopg
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE
from psycopg import sql
from psycopg.types.json import Jsonb

from tasks.documents import DOCUMENT_SCHEMA
from tasks.lake import Lake, lake_from_settings
from tasks.settings import Settings

LIST_COLUMNS = {"authors", "topics", "referenced_ids"}
PG_TYPES = {
    "publication_date": "date",
    "updated_at": "timestamptz",
    "ingested_at": "timestamptz",
    "cited_by_count": "bigint",
}


def documents_ddl(schema: str) -> sql.Composed:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name),
            sql.SQL("jsonb" if f.name in LIST_COLUMNS else PG_TYPES.get(f.name, "text")),
            sql.SQL("" if f.nullable else " not null"),
        )
        for f in DOCUMENT_SCHEMA
    )
    return sql.SQL(
        "create schema if not exists {schema};"
        "create table if not exists {schema}.documents ({columns});"
        "create index if not exists documents_source_run on {schema}.documents (source, run_id)"
    ).format(schema=sql.Identifier(schema), columns=columns)


def load_processed(
    conn: psycopg.Connection, lake: Lake, key: str, *, source: str, run_id: str, schema: str = "lake"
) -> int:
    """Replace the (source, run_id) rows with those of its processed file; returns the row count."""
    table = pq.read_table(lake.path(key), filesystem=lake.fs)
    names = table.column_names
    target = sql.SQL("{}.documents").format(sql.Identifier(schema))
    with conn.transaction():
        conn.execute(documents_ddl(schema))
        conn.execute(sql.SQL("delete from {} where source = %s and run_id = %s").format(target), [source, run_id])
        copy_sql = sql.SQL("copy {} ({}) from stdin").format(target, sql.SQL(", ").join(map(sql.Identifier, names)))
        with conn.cursor().copy(copy_sql) as copy:
            for batch in table.to_batches(max_chunksize=10_000):
                for row in batch.to_pylist():
                    copy.write_row([Jsonb(row[n]) if n in LIST_COLUMNS else row[n] for n in names])
    return table.num_rows


@task(name="load-warehouse", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def load_warehouse(settings: Settings, processed_key: str, source: str, run_id: str) -> int:
    """Postgres target only: connection from the standard PG* environment variables."""
    with psycopg.connect("") as conn:
        return load_processed(
            conn, lake_from_settings(settings), processed_key,
            source=source, run_id=run_id, schema=settings.lake_schema,
        )
