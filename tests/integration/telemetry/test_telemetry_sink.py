"""PostgresSink on the local PostgreSQL 15 (no TimescaleDB here: the partitioned path)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path

import orjson
import psycopg
import pytest
from psycopg import sql

from tasks.telemetry.model import Limits, Reading
from tasks.telemetry.normalise import outcome
from tasks.telemetry.sink import PostgresSink, to_row

pytestmark = pytest.mark.integration
LOG = logging.getLogger("test")


def reading(entity: str, metric: str, time: datetime, value: float = 1.0) -> Reading:
    return Reading(time, "fiware", entity, "T", metric, value, None, "CEL", {"seq": 1})


@pytest.fixture()
def sink(pg, pg_schema):
    table = f"{pg_schema}.sink_{uuid.uuid4().hex[:8]}"
    sink = PostgresSink(pg, table, LOG)
    assert sink.ensure_table() == "partitioned"
    return sink


def partitions(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE n.nspname = %s AND p.relname = %s ORDER BY 1", [schema, table])]


def test_creates_partitioned_table_with_partitions_ahead(sink, pg):
    now = datetime.now(timezone.utc)
    names = partitions(pg, sink.schema, sink.name)
    assert len(names) == 3 and names[0] == f"{sink.name}_p{now.year:04d}{now.month:02d}"
    again = PostgresSink(pg, f"{sink.schema}.{sink.name}", LOG)
    assert again.ensure_table() == "partitioned"  # idempotent, no error on an existing table


def test_write_is_idempotent_and_counts_duplicates(sink, pg):
    t0 = datetime(2016, 3, 15, 11, tzinfo=timezone.utc)  # far outside the partitions made ahead
    rows = [to_row(reading("e1", m, t0), "topic", 0, i) for i, m in enumerate(["a", "b", "c"])]
    assert sink.write(rows) == (3, 0)
    assert f"{sink.name}_p201603" in partitions(pg, sink.schema, sink.name)
    later = to_row(reading("e1", "a", t0.replace(minute=1)), "topic", 0, 3)
    assert sink.write(rows + [later]) == (1, 3)
    stored = pg.execute(
        sql.SQL("SELECT entity_id, metric, time, value, unit, attrs, kafka_offset, ingested_at IS NOT NULL FROM {} "
                "ORDER BY time, metric").format(sink.table)
    ).fetchall()
    assert stored[0] == ("e1", "a", t0, 1.0, "CEL", {"seq": 1}, 0, True)
    assert len(stored) == 4


def test_earliest_message_wins_a_key_within_a_batch(sink, pg):
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rows = [to_row(reading("e", "m", t0, 1.0), "topic", 1, 4), to_row(reading("e", "m", t0, 2.0), "topic", 1, 9)]
    assert sink.write(rows) == (1, 1)
    assert pg.execute(sql.SQL("SELECT value, kafka_offset FROM {}").format(sink.table)).fetchone() == (1.0, 4)


def test_failed_batch_leaves_nothing_behind(sink, pg):
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    bad = to_row(reading("e", "m", t0), "topic", 0, 1)
    bad = (*bad[:2], None, *bad[3:])  # entity_id NULL violates NOT NULL after the COPY
    with pytest.raises(psycopg.errors.NotNullViolation):
        sink.write([to_row(reading("e", "ok", t0), "topic", 0, 0), bad])
    assert pg.execute(sql.SQL("SELECT count(*) FROM {}").format(sink.table)).fetchone() == (0,)
    assert sink.write([to_row(reading("e", "ok", t0), "topic", 0, 0)]) == (1, 0)  # staging was emptied


def test_batches_staged_on_two_connections_land_independently(sink, pg):
    """The consumer stages batch k+1 on one connection while batch k is merged on the other."""
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    first = [to_row(reading("e", m, t0), "topic", 0, i) for i, m in enumerate("ab")]
    second = [to_row(reading("e", m, t0), "topic", 0, 2 + i) for i, m in enumerate("bc")]
    with psycopg.connect(pg.info.dsn, autocommit=True) as conn:
        other = PostgresSink(conn, f"{sink.schema}.{sink.name}", LOG)
        other.ensure_table()
        staged = sink.stage(first)
        assert other.stage(second) == 2
        assert sink.merge(staged) == (2, 0)
        assert other.merge(2) == (1, 1)  # "b" came with the first batch
        abandoned = other.stage([to_row(reading("e", "d", t0), "topic", 0, 4)])
        assert abandoned == 1
    # the connection closed with a staged, unmerged batch: it was rolled back
    stored = pg.execute(sql.SQL("SELECT metric, kafka_offset FROM {} ORDER BY 1").format(sink.table)).fetchall()
    assert stored == [("a", 0), ("b", 1), ("c", 3)]


def test_existing_plain_table_is_used_as_is(pg, pg_schema):
    name = f"plain_{uuid.uuid4().hex[:8]}"
    pg.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(  # keeps the primary key
        sql.Identifier(pg_schema, name), sql.Identifier(pg_schema, _partitioned(pg, pg_schema))))
    sink = PostgresSink(pg, f"{pg_schema}.{name}", LOG)
    assert sink.ensure_table() == "plain"
    row = to_row(reading("e", "m", datetime(2024, 1, 1, tzinfo=timezone.utc)), "topic", 0, 0)
    assert sink.write([row, row]) == (1, 1)


def _partitioned(pg, schema: str) -> str:
    sink = PostgresSink(pg, f"{schema}.model_{uuid.uuid4().hex[:8]}", LOG)
    sink.ensure_table()
    return sink.name


def test_every_reading_the_normaliser_accepts_is_storable(sink, pg):
    """Odd but valid input must not fail the database write (that would stall the consumer)."""
    ua = orjson.loads((Path(__file__).parents[2] / "fixtures/telemetry/message-full.json").read_bytes())
    payload = ua["Messages"]["Payload"]
    payload["NotANumber"] = {"Value": {"Type": 11, "Body": "NaN"}, "SourceTimestamp": "2021-03-29T00:52:50Z"}
    payload["Huge"] = {"Value": {"Type": 9, "Body": "18446744073709551615"}, "SourceTimestamp": "2021-03-29T00:52:50Z"}
    payload["Status"] = {"Value": {"Type": 11, "Body": 1e308}, "StatusCode": {"Code": 2150891520, "Symbol": "Bad"},
                         "SourceTimestamp": "2021-03-29T00:52:50Z"}
    entity = {
        "id": "Ω-" + "é" * 254, "type": "Тип", "TimeInstant": "1970-01-01T00:00:00Z",
        "ünïcode 🌡": {"type": "Text", "value": "ok ✓ " + "x" * 10_000},
        "empty": {"type": "Text", "value": ""},
        "deep": {"type": "Number", "value": -0.0,
                 "metadata": {"nested": {"type": "StructuredValue", "value": {"a": [[{"b": None}]]}}}},
    }
    rows = []
    for offset, doc in enumerate([ua, entity]):
        readings = outcome(orjson.dumps(doc), Limits(), datetime.now(timezone.utc)).readings
        rows += [to_row(r, "topic", 0, offset) for r in readings]
    assert len(rows) == 5 + 3
    assert sink.write(rows) == (8, 0)
    stored = dict(pg.execute(sql.SQL("SELECT metric, value FROM {}").format(sink.table)).fetchall())
    assert stored["NotANumber"] != stored["NotANumber"]  # NaN round-trips
    assert stored["Huge"] == 18446744073709551615.0


def test_status_columns_round_trip_and_are_added_to_an_older_table(pg, pg_schema):
    """A table created before the status columns gets them on the next start; a Bad value without a
    body lands as a status-only row."""
    name = f"old_{uuid.uuid4().hex[:8]}"
    pg.execute(sql.SQL(
        "CREATE TABLE {} (time timestamptz NOT NULL, source text NOT NULL, entity_id text NOT NULL, "
        "entity_type text, metric text NOT NULL, value double precision, value_text text, unit text, "
        "attrs jsonb, ingested_at timestamptz NOT NULL DEFAULT now(), kafka_topic text, "
        "kafka_partition integer, kafka_offset bigint, PRIMARY KEY (entity_id, metric, time))"
    ).format(sql.Identifier(pg_schema, name)))
    sink = PostgresSink(pg, f"{pg_schema}.{name}", LOG)
    assert sink.ensure_table() == "plain"
    payload = (Path(__file__).parents[2] / "fixtures/telemetry/opc-publisher/pubsub-ua-data.json").read_bytes()
    readings = outcome(payload, Limits(), datetime.now(timezone.utc)).readings
    assert sink.write([to_row(r, "topic", 0, 0) for r in readings]) == (5, 0)
    stored = pg.execute(
        sql.SQL("SELECT metric, value, status, status_code FROM {} ORDER BY metric").format(sink.table)
    ).fetchall()
    assert stored[0] == ("AlternatingBoolean", 1.0, "Good", 0)
    assert ("BadFastUInt1", None, "Bad", 2150694912) in stored
