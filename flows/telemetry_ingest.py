"""``telemetry_ingest``: Kafka telemetry topics -> readings table, rejects -> dead-letter topic.

Two modes. ``micro-batch`` consumes up to ``max_messages`` or ``max_seconds`` and finishes (run it
on a schedule). ``long-running`` consumes until cancelled: SIGTERM/SIGINT (what a Prefect worker
sends on cancellation, or Kubernetes on pod shutdown) ends the current batch, commits its offsets
and finishes the run as Cancelled. Every run publishes a table artifact with its counts.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.states import Cancelled

from tasks.settings import load_settings
from tasks.telemetry.consumer import IngestStats
from tasks.telemetry.stop import stop_on_signals
from tasks.telemetry.tasks import consume_telemetry

DEFAULT_TOPICS = ["telemetry.fiware.raw", "telemetry.opcua.raw"]


@flow(name="telemetry-ingest")
def telemetry_ingest(
    mode: Literal["micro-batch", "long-running"] = "micro-batch",
    topics: list[str] = DEFAULT_TOPICS,
    dlq_topic: str = "telemetry.dlq",
    group_id: str = "knowledge-ingest-telemetry",
    max_messages: int = 100_000,
    max_seconds: float = 50.0,
    batch_size: int = 2000,
    consumer_options: dict[str, Any] | None = None,
):
    """``max_messages``/``max_seconds`` bound micro-batch runs only. ``consumer_options`` are extra
    librdkafka consumer properties (e.g. ``session.timeout.ms``); credentials belong in
    ``KI_TELEMETRY_KAFKA_OPTIONS``, not here (parameters are visible in the UI)."""
    logger = get_run_logger()
    micro = mode == "micro-batch"
    params = dict(
        topics=list(topics),
        dlq_topic=dlq_topic,
        group_id=group_id,
        batch_size=batch_size,
        max_messages=max_messages if micro else None,
        max_seconds=max_seconds if micro else None,
        consumer_options=dict(consumer_options or {}),
    )
    logger.info("telemetry_ingest %s: topics %s, group %s", mode, params["topics"], group_id)
    with stop_on_signals() as stop:
        stats = consume_telemetry(load_settings(), stop, **params)
    summary = _summary(stats, mode)
    _publish(summary)
    if stop.is_set():
        message = f"stopped by {stop.reason} after committing every batch it had written"
        return Cancelled(message=message, data=summary)
    return summary


def _summary(stats: IngestStats, mode: str) -> dict[str, Any]:
    return {
        "mode": mode,
        "consumed": stats.consumed,
        "written": stats.written,
        "duplicates_skipped": stats.duplicates,
        "dead_lettered": stats.dead_lettered,
        "partly_dead_lettered": stats.partly_dead_lettered,
        "parts_dead_lettered": stats.parts_dead_lettered,
        "dead_letter_reasons": dict(stats.reasons),
        "with_readings": stats.with_readings,
        "no_readings": sum(stats.no_readings.values()),
        "no_readings_reasons": dict(stats.no_readings),
        "reconciles": _reconciles(stats),
        "lag_at_end": stats.lag,
        "batches": stats.batches,
        "stopped_by": stats.stopped_by,
        "storage": stats.storage,
        "seconds": stats.seconds,
    }


def _reconciles(stats: IngestStats) -> bool:
    """Every message consumed is in exactly one class: it gave readings with nothing rejected, was
    dead-lettered whole, had parts dead-lettered, or gave no readings for a named reason.
    (``parts_dead_lettered`` is the number of part records, not of messages: it is not a term.)"""
    no_readings = sum(stats.no_readings.values())
    return stats.consumed == stats.with_readings + stats.dead_lettered + stats.partly_dead_lettered + no_readings


def _publish(summary: dict[str, Any]) -> None:
    counts = ("consumed", "with_readings", "dead_lettered", "partly_dead_lettered", "parts_dead_lettered",
              "no_readings", "reconciles", "written", "duplicates_skipped", "lag_at_end")
    rows = [{"measure": k, "value": summary[k]} for k in counts]
    reasons = sorted(summary["dead_letter_reasons"].items())
    rows += [{"measure": f"dead_lettered: {code}", "value": n} for code, n in reasons]
    empty = sorted(summary["no_readings_reasons"].items())
    rows += [{"measure": f"no_readings: {reason}", "value": n} for reason, n in empty]
    context = ("mode", "stopped_by", "batches", "seconds", "storage")
    rows += [{"measure": k, "value": summary[k]} for k in context]
    create_table_artifact(
        key="telemetry-ingest",
        table=rows,
        description="Telemetry ingest run: counts only. dead_lettered counts messages rejected whole, "
        "'dead_lettered: <code>' counts DLQ records (whole messages and parts); lag_at_end is empty "
        "when it could not be measured.",
    )
