"""ELT in the warehouse: staging load, then dbt with write-audit-publish.

* **Stage.** Each file's cleaned Parquet replaces that file's rows in
  ``elt_staging.<dataset>`` (one transaction), tagged with the run's batch id.
* **Write + audit.** Production relations are copied into ``<schema>__wap``, dbt
  merges the batch into them there and runs every test there.
* **Publish.** Only if every test passed, the audited relations replace production
  in one transaction (DuckDB: ``create or replace … as from``; Postgres: drop and
  ``alter table … set schema``) and the batch leaves staging in that same
  transaction. A failing test leaves production as it was, and the build stays in
  ``<schema>__wap`` for inspection.

One publish at a time per warehouse (DuckDB: a file lock beside the database) or per
dataset (Postgres: an advisory lock), so concurrent runs never build over each other.
"""

from __future__ import annotations

import fcntl
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pyarrow.parquet as pq
from psycopg import sql

from tasks.elt.dataset import Dataset
from tasks.settings import Settings
from tasks.warehouse.dbt import run_dbt
from tasks.warehouse.query import connect_duckdb

STAGING_SCHEMA = "elt_staging"
TRACKING_COLUMNS = {"event_id": "text", "_source_file": "text", "_file_id": "text", "_batch": "text"}


class AuditFailed(RuntimeError):
    """dbt tests failed on the audited build; production was not touched."""


@dataclass(frozen=True)
class Published:
    events_before: int
    events_after: int
    mart_rows: dict[str, int]


def staging_columns(dataset: Dataset, dialect: str) -> list[tuple[str, str]]:
    return [(c.name, c.sql_type(dialect)) for c in dataset.columns] + list(TRACKING_COLUMNS.items())


@contextmanager
def warehouse_lock(settings: Settings, dataset: Dataset) -> Iterator[None]:
    if settings.warehouse == "postgres":
        key = zlib.crc32(f"knowledge-ingest elt {dataset.name}".encode())
        with psycopg.connect("", autocommit=True) as con:
            con.execute("select pg_advisory_lock(%s)", [key])
            try:
                yield
            finally:
                con.execute("select pg_advisory_unlock(%s)", [key])
        return
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{settings.duckdb_file}.elt.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes, also on a crash
        yield


def stage(settings: Settings, dataset: Dataset, parquet_path: str, *, file_id: str, batch: str) -> int:
    """Replace ``file_id``'s rows in staging with the cleaned Parquet; returns the rows staged."""
    with warehouse_lock(settings, dataset):
        if settings.warehouse == "postgres":
            return _stage_postgres(settings, dataset, parquet_path, file_id, batch)
        return _stage_duckdb(settings, dataset, parquet_path, file_id, batch)


def _stage_duckdb(settings, dataset, parquet_path, file_id, batch) -> int:
    table = f'{STAGING_SCHEMA}."{dataset.name}"'
    columns = ", ".join(f'"{n}" {t}' for n, t in staging_columns(dataset, 'duckdb'))
    with connect_duckdb(settings) as con:
        con.execute(f"create schema if not exists {STAGING_SCHEMA}")
        con.execute(f"create table if not exists {table} ({columns})")
        con.execute("begin")
        con.execute(f"delete from {table} where _file_id = ?", [file_id])
        con.execute(f"insert into {table} by name select *, ? as _file_id, ? as _batch "
                    f"from read_parquet(?)", [file_id, batch, parquet_path])
        staged = con.execute(f"select count(*) from {table} where _file_id = ?", [file_id]).fetchone()[0]
        con.execute("commit")
    return staged


def _stage_postgres(settings, dataset, parquet_path, file_id, batch) -> int:
    table = sql.Identifier(STAGING_SCHEMA, dataset.name)
    columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
                                 for n, t in staging_columns(dataset, 'postgres'))
    with psycopg.connect("") as con, con.transaction():
        con.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(STAGING_SCHEMA)))
        con.execute(sql.SQL("create table if not exists {} ({})").format(table, columns))
        con.execute(sql.SQL("delete from {} where _file_id = %s").format(table), [file_id])
        return copy_parquet(con, table, parquet_path, {"_file_id": file_id, "_batch": batch})


def copy_parquet(con: psycopg.Connection, table: sql.Composable, parquet_path: str,
                 constants: dict[str, str] | None = None) -> int:
    """COPY a Parquet file's rows (plus constant columns) into ``table``, streaming by batch."""
    constants = constants or {}
    parquet = pq.ParquetFile(parquet_path)
    names = [*parquet.schema_arrow.names, *constants]
    copy_sql = sql.SQL("copy {} ({}) from stdin").format(table, sql.SQL(", ").join(map(sql.Identifier, names)))
    extra = tuple(constants.values())
    copied = 0
    with con.cursor().copy(copy_sql) as copy:
        for batch_rows in parquet.iter_batches(batch_size=50_000):
            for row in zip(*(col.to_pylist() for col in batch_rows.columns)):
                copy.write_row((*row, *extra))
            copied += batch_rows.num_rows
    return copied


def publish(settings: Settings, dataset: Dataset, batch: str) -> Published:
    """Merge ``batch`` into the audited copy, test it, and swap it into production."""
    models = dataset.dbt
    with warehouse_lock(settings, dataset):
        before = _count(settings, models.schema_, models.publish[0])
        _copy_relations(settings, models.publish, source=models.schema_, target=models.build_schema)
        dbt_vars = {"elt_build_schema": models.build_schema, "elt_batch": batch}
        result = run_dbt(settings, ["build", "--select", models.select, "--vars", json.dumps(dbt_vars)],
                         raise_on_failure=False)
        failed = sorted(r.node.name for r in getattr(result.result, "results", None) or []
                        if str(r.status) in ("fail", "error", "runtime error"))
        if failed or not result.success:
            reason = f"dbt {'test(s) ' + ', '.join(failed) if failed else 'build'} failed"
            if result.exception is not None:
                reason += f": {result.exception}"
            raise AuditFailed(f"{reason}; production schema {models.schema_} unchanged, "
                              f"the audited build is kept in {models.build_schema}")
        _swap(settings, dataset, batch)
        rows = {name: _count(settings, models.schema_, name) for name in models.publish}
    return Published(before, rows[models.publish[0]], rows)


def _count(settings: Settings, schema: str, relation: str) -> int:
    if settings.warehouse == "postgres":
        with psycopg.connect("") as con:
            if con.execute("select to_regclass(%s)", [f"{schema}.{relation}"]).fetchone()[0] is None:
                return 0
            return con.execute(sql.SQL("select count(*) from {}").format(
                sql.Identifier(schema, relation))).fetchone()[0]
    if not settings.duckdb_file.exists():
        return 0
    with connect_duckdb(settings) as con:
        found = con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, relation]).fetchone()[0]
        return con.execute(f'select count(*) from "{schema}"."{relation}"').fetchone()[0] if found else 0


def _copy_relations(settings: Settings, relations, *, source: str, target: str) -> None:
    """Start the audited build from production, so incremental models merge into its copy."""
    if settings.warehouse == "postgres":
        with psycopg.connect("") as con, con.transaction():
            con.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(target)))
            for name in relations:
                src, dst = sql.Identifier(source, name), sql.Identifier(target, name)
                con.execute(sql.SQL("drop table if exists {}").format(dst))
                if con.execute("select to_regclass(%s)", [f"{source}.{name}"]).fetchone()[0] is not None:
                    con.execute(sql.SQL("create table {} (like {} including all)").format(dst, src))
                    con.execute(sql.SQL("insert into {} select * from {}").format(dst, src))
        return
    with connect_duckdb(settings) as con:
        con.execute(f'create schema if not exists "{target}"')
        existing = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [source]).fetchall()}
        for name in relations:
            con.execute(f'drop table if exists "{target}"."{name}"')
            if name in existing:
                con.execute(f'create table "{target}"."{name}" as from "{source}"."{name}"')


def _swap(settings: Settings, dataset: Dataset, batch: str) -> None:
    models = dataset.dbt
    prod, wap = models.schema_, models.build_schema
    if settings.warehouse == "postgres":
        with psycopg.connect("") as con, con.transaction():
            con.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(prod)))
            for name in models.publish:
                con.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(prod, name)))
                con.execute(sql.SQL("alter table {} set schema {}").format(
                    sql.Identifier(wap, name), sql.Identifier(prod)))
            con.execute(sql.SQL("delete from {} where _batch = %s").format(
                sql.Identifier(STAGING_SCHEMA, dataset.name)), [batch])
        return
    with connect_duckdb(settings) as con:
        con.execute("begin")
        con.execute(f'create schema if not exists "{prod}"')
        for name in models.publish:
            con.execute(f'create or replace table "{prod}"."{name}" as from "{wap}"."{name}"')
        con.execute(f'delete from {STAGING_SCHEMA}."{dataset.name}" where _batch = ?', [batch])
        con.execute("commit")


def unstage(settings: Settings, dataset: Dataset, batch: str) -> None:
    """Drop a batch that failed its audit from staging (its audited build stays in <schema>__wap)."""
    with warehouse_lock(settings, dataset):
        if settings.warehouse == "postgres":
            with psycopg.connect("") as con:
                con.execute(sql.SQL("delete from {} where _batch = %s").format(
                    sql.Identifier(STAGING_SCHEMA, dataset.name)), [batch])
            return
        with connect_duckdb(settings) as con:
            con.execute(f'delete from {STAGING_SCHEMA}."{dataset.name}" where _batch = ?', [batch])


def mart_rows(settings: Settings, dataset: Dataset) -> dict[str, int]:
    with warehouse_lock(settings, dataset):  # not while another process publishes (DuckDB file lock)
        return {name: _count(settings, dataset.dbt.schema_, name) for name in dataset.dbt.publish}
