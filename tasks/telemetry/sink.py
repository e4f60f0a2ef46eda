"""Readings -> Postgres/TimescaleDB: ``COPY`` into a temp staging table, then
``INSERT … ON CONFLICT (entity_id, metric, time) DO NOTHING`` in one transaction.

Idempotent by construction: a redelivered message lands on existing keys and is counted as a
duplicate, so at-least-once delivery gives each reading exactly once in the table.

The table is created if missing. With the ``timescaledb`` extension it becomes a hypertable with a
compression policy and a 1-minute continuous aggregate ``<table>_1m``; without it, a native table
range-partitioned by month on ``time``, whose partitions are created ahead and on demand.
Only the plain-Postgres path is exercised by this repository's tests.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple, Sequence

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_dumps

from tasks.telemetry.model import Logger, Reading

COPY_COLUMNS = (
    "time", "source", "entity_id", "entity_type", "metric", "value", "value_text", "unit", "attrs",
    "status", "status_code", "kafka_topic", "kafka_partition", "kafka_offset",
)
# Binary COPY: no text formatting of floats and timestamps on the client (~3x cheaper per row).
COPY_TYPES = (
    "timestamptz", "text", "text", "text", "text", "float8", "text", "text", "jsonb",
    "text", "int8", "text", "int4", "int8",
)
COLUMNS_DDL = """
    time timestamptz NOT NULL,
    source text NOT NULL,
    entity_id text NOT NULL,
    entity_type text,
    metric text NOT NULL,
    value double precision,
    value_text text,
    unit text,
    attrs jsonb,
    status text,
    status_code bigint,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    kafka_topic text,
    kafka_partition integer,
    kafka_offset bigint,
    PRIMARY KEY (entity_id, metric, time)
"""
MONTHS_AHEAD = 2
COMPRESS_AFTER = "7 days"

Row = tuple[Any, ...]


class WriteResult(NamedTuple):
    written: int
    duplicates: int


def to_row(reading: Reading, topic: str, partition: int, offset: int) -> Row:
    """A reading plus its Kafka lineage, in ``COPY_COLUMNS`` order."""
    return (*reading, topic, partition, offset)


class PostgresSink:
    """Writes batches of rows to one readings table over one autocommit connection."""

    def __init__(self, conn: psycopg.Connection, table: str, logger: Logger):
        if not conn.autocommit:
            raise ValueError("PostgresSink needs an autocommit connection (it runs its own transactions)")
        self.conn, self.log = conn, logger
        set_json_dumps(orjson.dumps, context=conn)
        schema, _, name = table.rpartition(".")
        self.schema = schema or conn.execute("SELECT current_schema()").fetchone()[0]
        self.name = name
        self.table = sql.Identifier(self.schema, name)
        self.staging = sql.Identifier(f"stage_{name}"[:63])
        columns = sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS))
        self.copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(self.staging, columns)
        self.insert_sql = sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (entity_id, metric, time) DO NOTHING"
        ).format(self.table, columns, columns, self.staging)
        self.kind = ""
        self._months: set[tuple[int, int]] = set()

    # -- table management ----------------------------------------------------------------------
    def ensure_table(self) -> str:
        """Create the table if missing; return its kind: timescaledb, partitioned or plain."""
        with self.conn.transaction():
            self._lock()
            self.kind = self._existing_kind()
            created = not self.kind
            if created:
                self.kind = "timescaledb" if self._timescaledb_ready() else "partitioned"
                self._create(self.kind)
        if not created:  # a table from before the status columns: add them (nullable, no rewrite)
            self.conn.execute(
                sql.SQL(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS status text, "
                    "ADD COLUMN IF NOT EXISTS status_code bigint"
                ).format(self.table)
            )
        if created and self.kind == "timescaledb":
            self._create_continuous_aggregate()  # not allowed inside a transaction block
        if self.kind == "partitioned":
            now = datetime.now(timezone.utc)
            self.ensure_partitions({_add_months(now.year, now.month, i) for i in range(MONTHS_AHEAD + 1)})
        self.conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ).format(self.staging, self.table)
        )
        state = "created" if created else "existing"
        self.log.info("telemetry table %s.%s ready (%s, %s)", self.schema, self.name, self.kind, state)
        return self.kind

    def _lock(self) -> None:
        """Serialise DDL between consumers that share the table (transaction-scoped)."""
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{self.schema}.{self.name}"])

    def _existing_kind(self) -> str:
        row = self.conn.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            [self.schema, self.name],
        ).fetchone()
        if row is None:
            return ""
        if row[0] == "p":
            return "partitioned"
        hypertable = self._has_timescaledb() and self.conn.execute(
            "SELECT 1 FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = %s AND hypertable_name = %s",
            [self.schema, self.name],
        ).fetchone()
        return "timescaledb" if hypertable else "plain"

    def _has_timescaledb(self) -> bool:
        found = self.conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        return found is not None

    def _timescaledb_ready(self) -> bool:
        """Installed, or available and installable by this role; otherwise fall back to partitions."""
        if self._has_timescaledb():
            return True
        available = "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        if not self.conn.execute(available).fetchone():
            return False
        try:
            with self.conn.transaction():
                self.conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            return True
        except psycopg.Error as exc:
            self.log.warning("timescaledb could not be enabled (SQLSTATE %s); using partitions", exc.sqlstate)
            return False

    def _create(self, kind: str) -> None:
        if kind == "partitioned":
            self.conn.execute(
                sql.SQL("CREATE TABLE {} (" + COLUMNS_DDL + ") PARTITION BY RANGE (time)").format(self.table)
            )
            return
        table = sql.Literal(f"{self.schema}.{self.name}")
        for statement in (
            sql.SQL("CREATE TABLE {} (" + COLUMNS_DDL + ")").format(self.table),
            sql.SQL("SELECT create_hypertable({}, 'time', if_not_exists => TRUE)").format(table),
            sql.SQL(
                "ALTER TABLE {} SET (timescaledb.compress, "
                "timescaledb.compress_segmentby = 'entity_id, metric', "
                "timescaledb.compress_orderby = 'time DESC')"
            ).format(self.table),
            sql.SQL("SELECT add_compression_policy({}, INTERVAL {}, if_not_exists => TRUE)").format(
                table, sql.Literal(COMPRESS_AFTER)
            ),
        ):
            self.conn.execute(statement)

    def _create_continuous_aggregate(self) -> None:
        view = sql.Identifier(self.schema, f"{self.name}_1m")
        self.conn.execute(
            sql.SQL(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {} WITH (timescaledb.continuous) AS "
                "SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, entity_id, metric, "
                "avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS readings "
                "FROM {} GROUP BY bucket, entity_id, metric WITH NO DATA"
            ).format(view, self.table)
        )
        self.conn.execute(
            sql.SQL(
                "SELECT add_continuous_aggregate_policy({}, start_offset => INTERVAL '1 hour', "
                "end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', "
                "if_not_exists => TRUE)"
            ).format(sql.Literal(f"{self.schema}.{self.name}_1m"))
        )

    def ensure_partitions(self, months: set[tuple[int, int]]) -> None:
        """Monthly partitions for the given (year, month)s, in their own short DDL transaction."""
        missing = sorted(months - self._months)
        if not missing:
            return
        with self.conn.transaction():
            self._lock()
            for year, month in missing:
                start = datetime(year, month, 1, tzinfo=timezone.utc)
                end = datetime(*_add_months(year, month, 1), 1, tzinfo=timezone.utc)
                partition = sql.Identifier(self.schema, f"{self.name}_p{year:04d}{month:02d}")
                self.conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                    ).format(partition, self.table, sql.Literal(start), sql.Literal(end))
                )
        self._months.update(missing)

    # -- writing -------------------------------------------------------------------------------
    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Land one batch atomically; rows whose key already exists are skipped and counted."""
        return self.merge(self.stage(rows))

    def stage(self, rows: Sequence[Row]) -> int:
        """Open the batch's transaction and COPY its rows into the staging table; returns len(rows).

        The transaction stays open for ``merge``, which may run on another thread: formatting rows
        for COPY holds the GIL, waiting for the INSERT does not. Within a batch the earliest row of
        a key wins (rows come in offset order); that is settled here, so the database need not sort.
        """
        if not rows:
            return 0
        unique = {(row[2], row[4], row[0]): row for row in reversed(rows)}  # the earliest stays
        if self.kind == "partitioned":
            self.ensure_partitions({(row[0].year, row[0].month) for row in unique.values()})
        self.conn.execute("BEGIN")
        try:
            with self.conn.cursor() as cur, cur.copy(self.copy_sql) as copy:
                copy.set_types(COPY_TYPES)
                for row in unique.values():
                    copy.write_row(row)
        except BaseException:
            self._rollback()
            raise
        return len(rows)

    def merge(self, staged: int) -> WriteResult:
        """``INSERT … ON CONFLICT DO NOTHING`` from staging and COMMIT the transaction ``stage`` opened
        for ``staged`` rows (ROLLBACK on any error)."""
        if not staged:
            return WriteResult(0, 0)
        try:
            with self.conn.cursor() as cur:
                cur.execute(self.insert_sql)
                written = cur.rowcount
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return WriteResult(written, staged - written)

    def _rollback(self) -> None:
        if not self.conn.closed:  # a lost connection has rolled back already
            self.conn.execute("ROLLBACK")


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + n
    return index // 12, index % 12 + 1
