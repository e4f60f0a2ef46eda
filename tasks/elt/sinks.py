"""Fan-out sinks beyond the warehouse: each writes one file's cleaned Parquet, idempotently.

``PostgresEventsSink``: rows are keyed by ``(event_id, <event_time>)`` (the event time is
part of the key so the table can be a TimescaleDB hypertable, whose unique keys must hold
the time column; event_id already determines it). A write COPYs into a temporary table and
inserts with ``ON CONFLICT DO NOTHING``, so a retried or re-delivered file never duplicates
a row.

``VectorTextSink``: one vector per declared entity, upserted by a document id derived from
the entity's key, through the project's embedding backends and vector stores; a retried or
re-delivered file replaces vectors instead of adding them, and unchanged text is not
embedded again.
"""

from __future__ import annotations

import hashlib

import duckdb
import psycopg
from psycopg import sql

from tasks.elt.dataset import Dataset
from tasks.elt.engine import sql_ident
from tasks.elt.warehouse import copy_parquet
from tasks.embed.backends import process_backend
from tasks.embed.pipeline import embed_documents
from tasks.settings import Settings
from tasks.sinks import SinkWriteError, make_sink


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


class VectorTextSink:
    name = "vector"

    def __init__(self, settings: Settings, dataset: Dataset):
        if dataset.sinks.vector is None:
            raise ValueError(f"dataset {dataset.name} declares no vector sink")
        self.settings, self.dataset, self.declared = settings, dataset, dataset.sinks.vector

    def entities(self, parquet_path: str) -> list[dict]:
        """document_id, record_hash and text of each entity with some text in the file.

        An entity seen with several texts keeps the one of its latest event (ties: the
        greatest text), so the choice never depends on row order.
        """
        keys = ", ".join(f"cast({sql_ident(k)} as varchar)" for k in self.declared.key)
        text = f"concat_ws(' ', {', '.join(sql_ident(c) for c in self.declared.text)})"
        rows = duckdb.execute(
            f"select [{keys}], arg_max(t, ({sql_ident(self.dataset.event_time)}, t)) "
            f"from (select *, {text} as t from read_parquet(?)) where t <> '' group by all order by 1",
            [parquet_path]).fetchall()
        return [{"document_id": f"{self.dataset.name}:{':'.join(key)}", "title": text, "abstract": None,
                 "record_hash": hashlib.sha256(text.encode()).hexdigest(), "source": self.dataset.name}
                for key, text in rows]

    def write(self, parquet_path: str, file_id: str) -> int:
        """Embed the entities whose text (or model) changed; returns how many vectors were upserted."""
        entities = _Entities(self.entities(parquet_path))
        store = make_sink(self.settings, self.declared.collection)
        try:
            report = embed_documents(entities, store, process_backend(self.settings),
                                     batch_size=self.settings.embed_batch_size,
                                     chunk_size=self.settings.embed_chunk_size)
        finally:
            store.close()
        if report.failed:  # the ledger must not record this sink as written
            raise SinkWriteError(f"vector collection {self.declared.collection}", report.errors)
        return report.upserted

    def count(self) -> int:
        store = make_sink(self.settings, self.declared.collection)
        try:
            return len(store.fingerprints())
        finally:
            store.close()


class _Entities:
    """One file's entities as the embed pipeline's document source."""

    def __init__(self, rows: list[dict]):
        self._by_id = {r["document_id"]: r for r in rows}

    def fingerprints(self) -> list[tuple[str, str]]:
        return [(d, r["record_hash"]) for d, r in self._by_id.items()]

    def fetch(self, document_ids) -> list[dict]:
        return [self._by_id[d] for d in document_ids]
