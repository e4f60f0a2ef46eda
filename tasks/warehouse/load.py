"""Load a window's processed Parquet into the Postgres warehouse's ``lake.<table>``.

DuckDB reads the lake's Parquet in place; Postgres cannot, so on that target each
processed file is copied into its table's ``lake.<table>`` (the dbt source) first. A
file is one (source, run_id): it replaces its previous load in one transaction, so
re-running a window never duplicates rows and readers never see half a load. Every
table is created on each load, so dbt finds (empty) sources for tables not synced yet.
"""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE
from psycopg import sql
from psycopg.types.json import Jsonb

from tasks.lake import Lake, lake_from_settings
from tasks.settings import Settings
from tasks.tables import TABLES, Table


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return "jsonb"
    if pa.types.is_timestamp(t):
        return "timestamptz"
    return {pa.date32(): "date", pa.int64(): "bigint", pa.float64(): "double precision",
            pa.bool_(): "boolean"}.get(t, "text")


def table_ddl(table: Table, schema: str) -> sql.Composed:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name), sql.SQL(_pg_type(f.type)), sql.SQL("" if f.nullable else " not null"),
        )
        for f in table.schema
    )
    return sql.SQL(
        "create schema if not exists {schema};"
        "create table if not exists {schema}.{table} ({columns});"
        "create index if not exists {index} on {schema}.{table} (source, run_id)"
    ).format(schema=sql.Identifier(schema), table=sql.Identifier(table.name), columns=columns,
             index=sql.Identifier(f"{table.name}_source_run"))


def load_processed(
    conn: psycopg.Connection, lake: Lake, key: str, table: Table, *, source: str, run_id: str,
    schema: str = "lake",
) -> int:
    """Replace the (source, run_id) rows of ``table`` with those of its processed file; returns the row count."""
    data = pq.read_table(lake.path(key), filesystem=lake.fs)
    names = data.column_names
    lists = {f.name for f in table.schema if pa.types.is_list(f.type)}
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
    with conn.transaction():
        for each in TABLES.values():
            conn.execute(table_ddl(each, schema))
        conn.execute(sql.SQL("delete from {} where source = %s and run_id = %s").format(target), [source, run_id])
        copy_sql = sql.SQL("copy {} ({}) from stdin").format(target, sql.SQL(", ").join(map(sql.Identifier, names)))
        with conn.cursor().copy(copy_sql) as copy:
            for batch in data.to_batches(max_chunksize=10_000):
                for row in batch.to_pylist():
                    copy.write_row([Jsonb(row[n]) if n in lists else row[n] for n in names])
    return data.num_rows


@task(name="load-warehouse", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def load_warehouse(settings: Settings, processed_key: str, table: Table, source: str, run_id: str) -> int:
    """Postgres target only: connection from the standard PG* environment variables."""
    with psycopg.connect("") as conn:
        return load_processed(
            conn, lake_from_settings(settings), processed_key, table,
            source=source, run_id=run_id, schema=settings.lake_schema,
        )
