"""Prefect wrapper around the telemetry consumer core (tasks.telemetry.consumer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.settings import Settings
from tasks.telemetry.consumer import IngestConfig, IngestStats, ingest
from tasks.telemetry.model import Limits
from tasks.telemetry.stop import StopFlag


def ingest_config(settings: Settings, **params: Any) -> IngestConfig:
    """Connections and message bounds from settings; topics, group and run bounds from the flow."""
    return IngestConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        database_url=settings.telemetry_database_url.get_secret_value(),
        table=settings.telemetry_table,
        limits=Limits(
            max_bytes=settings.telemetry_max_message_bytes,
            max_depth=settings.telemetry_max_json_depth,
            max_future=timedelta(seconds=settings.telemetry_max_future_s),
        ),
        kafka_options={k: v.get_secret_value() for k, v in settings.telemetry_kafka_options.items()},
        **params,
    )


# No retries: a failed run has committed every batch it finished, and the next run resumes there.
# The config (with its credentials) is built inside the task, so it is never a task parameter.
@task(name="consume-telemetry", cache_policy=NO_CACHE)
def consume_telemetry(settings: Settings, stop: StopFlag | None = None, **params: Any) -> IngestStats:
    return ingest(ingest_config(settings, **params), logger=get_run_logger(), stop=stop)
