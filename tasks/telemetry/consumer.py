"""The at-least-once consumer loop: Kafka -> normalise -> Postgres + dead-letter topic.

Per batch: consume up to ``batch_size`` messages, normalise them, write the readings in one
transaction, produce the rejects (whole messages, and bad parts of messages whose other parts were
written) to the DLQ and wait for its acknowledgement, and only then commit the offsets. A crash
anywhere before the offset commit replays the batch, and the idempotent sink turns the replay into
"duplicates skipped", so each reading lands exactly once; the DLQ gets the rejects again (at least
once).
Logs carry counts and reason codes only, never message contents.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from tasks.telemetry.dlq import DeadLetterQueue
from tasks.telemetry.model import InvalidMessage, Limits, Logger
from tasks.telemetry.normalise import outcome
from tasks.telemetry.sink import PostgresSink, Row, WriteResult, to_row
from tasks.telemetry.stop import StopFlag

POLL_TIMEOUT_S = 1.0
PROGRESS_EVERY_S = 60.0
# A commit refused because the group rebalanced is harmless: the new owner replays, the sink dedups.
REBALANCE_ERRORS = {
    KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
}


@dataclass
class IngestConfig:
    bootstrap_servers: str
    database_url: str = field(repr=False)
    table: str
    topics: list[str]
    dlq_topic: str
    group_id: str
    limits: Limits = field(default_factory=Limits)
    batch_size: int = 2000
    max_messages: int | None = None
    """Stop after this many messages (micro-batch); None = no limit."""
    max_seconds: float | None = None
    """Stop after this long (micro-batch); None = until stopped."""
    kafka_options: dict[str, Any] = field(default_factory=dict, repr=False)
    """Extra librdkafka properties for consumer and producer (security.protocol, sasl.* …)."""
    consumer_options: dict[str, Any] = field(default_factory=dict)
    """Extra properties for the consumer only (session.timeout.ms …)."""


@dataclass
class IngestStats:
    consumed: int = 0
    written: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    """Messages dead-lettered whole."""
    partly_dead_lettered: int = 0
    """Messages of which one or more parts were dead-lettered (the other parts' readings written)."""
    parts_dead_lettered: int = 0
    """Dead-lettered parts: one DLQ record each, with an ``error_at`` header."""
    with_readings: int = 0
    """Messages that gave readings, nothing of them dead-lettered."""
    no_readings: Counter = field(default_factory=Counter)
    """Valid messages without readings, by named reason. Every message is in exactly one class:
    consumed == with_readings + dead_lettered + partly_dead_lettered + sum(no_readings)."""
    batches: int = 0
    reasons: Counter = field(default_factory=Counter)
    """DLQ records by ``error_code``: they sum to dead_lettered + parts_dead_lettered."""
    lag: int | None = None
    stopped_by: str = ""
    storage: str = ""
    seconds: float = 0.0


def consumer_config(config: IngestConfig) -> dict[str, Any]:
    return {
        "bootstrap.servers": config.bootstrap_servers,
        "group.id": config.group_id,
        "client.id": "knowledge-ingest-telemetry",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **config.kafka_options,
        **config.consumer_options,
    }


def producer_config(config: IngestConfig) -> dict[str, Any]:
    return {
        "bootstrap.servers": config.bootstrap_servers,
        "client.id": "knowledge-ingest-telemetry-dlq",
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 20,
        **config.kafka_options,
    }


def ingest(
    config: IngestConfig,
    *,
    logger: Logger,
    stop: StopFlag | None = None,
    before_commit: Callable[[IngestStats], None] | None = None,
) -> IngestStats:
    """Open consumer, DLQ producer and two database connections, run the loop, close everything."""
    consumer = Consumer(consumer_config(config))
    producer = Producer(producer_config(config))
    try:
        with (psycopg.connect(config.database_url, autocommit=True) as one,
              psycopg.connect(config.database_url, autocommit=True) as other):
            sinks = (PostgresSink(one, config.table, logger), PostgresSink(other, config.table, logger))
            storage = sinks[0].ensure_table()
            sinks[1].ensure_table()  # its own staging table
            consumer.subscribe(config.topics)
            dlq = DeadLetterQueue(producer, config.dlq_topic, config.limits.max_bytes)
            stats = run(consumer, sinks, dlq, config, logger=logger, stop=stop, before_commit=before_commit)
            stats.storage = storage
            return stats
    finally:
        consumer.close()  # leave the group now, so that the next run is assigned without waiting
        producer.flush(5)
        producer.close()  # now, not at garbage collection: DLQ callbacks make a reference cycle


def run(
    consumer: Consumer,
    sinks: tuple[PostgresSink, PostgresSink],
    dlq: DeadLetterQueue,
    config: IngestConfig,
    *,
    logger: Logger,
    stop: StopFlag | None = None,
    before_commit: Callable[[IngestStats], None] | None = None,
) -> IngestStats:
    """Consume until a stop condition; ``before_commit`` runs after a batch landed, before its commit.

    Batches alternate between two sinks on their own connections. While one writer thread finishes
    batch k on one (INSERT, COMMIT, then the DLQ), this thread consumes, normalises and stages
    (COPY) batch k+1 on the other, so Python and Postgres work at the same time; the writer mostly
    waits on the database, without the GIL. Batch k+1 is merged only after batch k's offsets were
    committed: at most one batch is ever written but not committed, and a staged batch that never
    got merged is rolled back with its connection.
    """
    stats = IngestStats()
    taken = taken_batches = 0
    started = last_progress = time.monotonic()
    in_flight: tuple[Batch, Future[WriteResult]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="telemetry-writer") as writer:
        while True:
            stats.stopped_by = _stop_reason(taken, config, stop, time.monotonic() - started)
            if stats.stopped_by:
                break
            wanted = config.batch_size
            if config.max_messages is not None:
                wanted = min(wanted, config.max_messages - taken)
            timeout = POLL_TIMEOUT_S
            if config.max_seconds is not None:
                timeout = max(0.0, min(timeout, config.max_seconds - (time.monotonic() - started)))
            messages = [m for m in consumer.consume(wanted, timeout) if _usable(m, logger)]
            taken += len(messages)
            batch = prepare(messages, config.limits, logger) if messages else None
            if batch:
                sink = sinks[taken_batches % 2]  # not the one the batch in flight is on
                taken_batches += 1
                staged = sink.stage(batch.rows)
            if in_flight is not None:
                _complete(*in_flight, consumer, stats, logger, before_commit)
            in_flight = (batch, writer.submit(land, batch, staged, sink, dlq)) if batch else None
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                logger.info("telemetry progress: %s", _summary(stats))
        if in_flight is not None:
            _complete(*in_flight, consumer, stats, logger, before_commit)
    stats.lag = measure_lag(consumer, logger)
    stats.seconds = round(time.monotonic() - started, 3)
    logger.info("telemetry ingest stopped (%s): %s, lag %s", stats.stopped_by, _summary(stats), stats.lag)
    return stats


def _stop_reason(taken: int, config: IngestConfig, stop: StopFlag | None, elapsed: float) -> str:
    if stop is not None and stop.is_set():
        return stop.reason or "stop requested"
    if config.max_messages is not None and taken >= config.max_messages:
        return "max_messages"
    if config.max_seconds is not None and elapsed >= config.max_seconds:
        return "max_seconds"
    return ""


def _usable(message: Message, logger: Logger) -> bool:
    err = message.error()
    if err is None:
        return True
    if err.fatal():
        raise KafkaException(err)
    if err.code() != KafkaError._PARTITION_EOF:
        logger.warning("consumer error (will retry): %s", err.str())
    return False


Reject = tuple[Message, InvalidMessage, str]
"""A dead letter: the message, why, and the path of the rejected part (``""``: the whole message)."""


@dataclass
class Batch:
    """One consumed batch: its rows, its rejects, and the offsets to commit once both have landed."""

    size: int
    rows: list[Row]
    rejected: list[Reject]
    offsets: list[TopicPartition]
    with_readings: int = 0
    no_readings: Counter = field(default_factory=Counter)
    partly_dead_lettered: int = 0


def prepare(messages: list[Message], limits: Limits, logger: Logger) -> Batch:
    """Normalise a batch. A message that crashes the normaliser is dead-lettered as ``unexpected``
    rather than stopping the consumer on it forever (the crash itself is a bug to fix)."""
    now = datetime.now(timezone.utc)
    rows: list[Row] = []
    rejected: list[Reject] = []
    offsets: dict[tuple[str, int], int] = {}
    with_readings, no_readings, partly = 0, Counter(), 0
    for message in messages:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        offsets[(topic, partition)] = max(offsets.get((topic, partition), -1), offset + 1)
        try:
            readings, bad, empty_reason = outcome(message.value(), limits, now)
        except InvalidMessage as exc:
            rejected.append((message, exc, ""))
            continue
        except Exception as exc:  # see the docstring; the payload is never logged
            where = f"{topic}[{partition}]@{offset}"
            logger.warning("normaliser crashed (%s) on %s; dead-lettered", type(exc).__name__, where)
            rejected.append((message, InvalidMessage("unexpected", f"{type(exc).__name__}: {exc}"), ""))
            continue
        if bad:
            partly += 1
            rejected.extend((message, p.error, p.at) for p in bad)
        elif empty_reason is None:
            with_readings += 1
        else:
            no_readings[empty_reason] += 1
        rows.extend(to_row(r, topic, partition, offset) for r in readings)
    partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    return Batch(len(messages), rows, rejected, partitions, with_readings, no_readings, partly)


def land(batch: Batch, staged: int, sink: PostgresSink, dlq: DeadLetterQueue) -> WriteResult:
    """The staged batch's INSERT and COMMIT, then the dead letters, acknowledged by the broker
    (writer thread)."""
    result = sink.merge(staged)
    for message, exc, at in batch.rejected:
        dlq.send(message, exc, at)
    if batch.rejected:
        dlq.flush()
    return result


def _complete(batch, landing, consumer, stats, logger, before_commit) -> None:
    result = landing.result()  # re-raises a failed write or DLQ flush: then nothing is committed
    stats.batches += 1
    stats.consumed += batch.size
    stats.written += result.written
    stats.duplicates += result.duplicates
    parts = sum(1 for _, _, at in batch.rejected if at)
    stats.dead_lettered += len(batch.rejected) - parts
    stats.parts_dead_lettered += parts
    stats.partly_dead_lettered += batch.partly_dead_lettered
    stats.with_readings += batch.with_readings
    stats.no_readings.update(batch.no_readings)
    reasons = Counter(exc.code for _, exc, _ in batch.rejected)
    stats.reasons.update(reasons)
    if reasons:
        logger.info("dead-lettered %d whole message(s), %d part(s) of %d message(s): %s",
                    len(batch.rejected) - parts, parts, batch.partly_dead_lettered, dict(reasons))
    if before_commit is not None:
        before_commit(stats)
    _commit(consumer, batch.offsets, logger)


def _commit(consumer: Consumer, offsets: list[TopicPartition], logger: Logger) -> None:
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as exc:
        if exc.args[0].code() not in REBALANCE_ERRORS:
            raise
        logger.warning("offset commit refused by a rebalance; the batch will be replayed and deduplicated")


def measure_lag(consumer: Consumer, logger: Logger) -> int | None:
    """Messages left behind the group's committed offsets on the assigned partitions (None: unknown).

    The end offsets are the high watermarks of the latest fetch responses (what librdkafka's own lag
    statistic uses); the broker is asked only for partitions not fetched yet.
    """
    try:
        assigned = consumer.assignment()
        if not assigned:
            return None
        lag = 0
        for tp in consumer.committed(assigned, timeout=10):
            low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                low, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += max(0, high - (tp.offset if tp.offset >= 0 else low))
        return lag
    except KafkaException as exc:
        logger.warning("could not measure consumer lag: %s", exc.args[0].str())
        return None


def _summary(stats: IngestStats) -> str:
    return (
        f"consumed {stats.consumed}, written {stats.written}, duplicates {stats.duplicates}, "
        f"dead-lettered {stats.dead_lettered} whole and {stats.parts_dead_lettered} parts of "
        f"{stats.partly_dead_lettered} in {stats.batches} batches"
    )
