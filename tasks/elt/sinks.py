"""Fan-out sinks beyond the warehouse: each writes one file's cleaned Parquet, idempotently.

Rows are keyed by ``(event_id, <event_time>)`` (the event time is part of the key so the
table can be a TimescaleDB hypertable, whose unique keys must hold the time column;
event_id already determines it). A write COPYs into a temporary table and inserts with
``ON CONFLICT DO NOTHING``, so a retried or re-delivered file never duplicates a row.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from tasks.elt.dataset import Dataset
from tasks.elt.warehouse import copy_parquet


class PostgresEventsSink:
    name = "postgres"

    def __init__(self, url: str, dataset: Dataset):
        if dataset.sinks.postgres is None:
            raise ValueError(f"dataset {dataset.name} declares no postgres sink")
        self.url, self.dataset = url, dataset
        schema, _, table = dataset.sinks.postgres.table.rpartition(".")
        self.schema, self.table_name = schema or "public", table
        self.table = sql.Identifier(self.schema, table)

    def write(self, parquet_path: str, file_id: str) -> int:
        """Insert the file's rows not there yet; returns how many were new."""
        with psycopg.connect(self.url) as con, con.transaction():
            con.execute("select pg_advisory_xact_lock(hashtext(%s))", [f"{self.schema}.{self.table_name}"])
            self._ensure_table(con)
            staging = sql.Identifier(f"load_{self.table_name}"[:63])
            con.execute(sql.SQL("create temp table {} (like {} including defaults) on commit drop")
                        .format(staging, self.table))
            copy_parquet(con, staging, parquet_path, {"_file_id": file_id})
            time_column = sql.Identifier(self.dataset.event_time)
            return con.execute(sql.SQL(
                "insert into {} select * from {} on conflict (event_id, {}) do nothing")
                .format(self.table, staging, time_column)).rowcount

    def _ensure_table(self, con: psycopg.Connection) -> None:
        exists = con.execute("select to_regclass(%s)", [f"{self.schema}.{self.table_name}"]).fetchone()[0]
        if exists is not None:
            return
        columns = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type("postgres")))
                   for c in self.dataset.columns]
        columns += [sql.SQL("event_id text not null"), sql.SQL("_source_file text"),
                    sql.SQL("_file_id text"), sql.SQL("loaded_at timestamptz not null default now()")]
        key = sql.SQL("primary key (event_id, {})").format(sql.Identifier(self.dataset.event_time))
        con.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(self.schema)))
        con.execute(sql.SQL("create table {} ({})").format(self.table, sql.SQL(", ").join([*columns, key])))
        if con.execute("select 1 from pg_extension where extname = 'timescaledb'").fetchone():
            con.execute("select create_hypertable(%s, %s)", [f"{self.schema}.{self.table_name}",
                                                            self.dataset.event_time])

    def count(self) -> int:
        with psycopg.connect(self.url) as con:
            if con.execute("select to_regclass(%s)", [f"{self.schema}.{self.table_name}"]).fetchone()[0] is None:
                return 0
            return con.execute(sql.SQL("select count(*) from {}").format(self.table)).fetchone()[0]
