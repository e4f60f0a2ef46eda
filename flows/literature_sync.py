"""literature-sync: fetch → land raw pages → normalise to Parquet → dbt build, for one source."""

from __future__ import annotations

from datetime import date
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from tasks.lake import lake_from_settings
from tasks.literature.normalise import processed_versions
from tasks.literature.sources import SOURCE_NAMES, SOURCES
from tasks.literature.tasks import commit_watermark, land_pages, normalise_pages
from tasks.settings import load_settings
from tasks.warehouse.dbt import dbt_build, dbt_source_freshness
from tasks.warehouse.load import load_warehouse
from tasks.warehouse.query import mart_changes, mart_row_count, mart_versions

SourceName = Literal[SOURCE_NAMES]
"""Built from the registry, so the deployment's parameter schema offers exactly its sources."""


@flow(name="literature-sync")
def literature_sync(
    source: SourceName,
    since: date | None = None,
    until: date | None = None,
    query: str = "",
    lookback_days: int = 1,
    build_marts: bool = True,
    replay_dir: str | None = None,
) -> dict:
    """Sync one source for a date window.

    Without ``since``/``until`` the window runs from the watermark to today (an
    interrupted window is finished first); with them it is a backfill of exactly
    ``[since, until)``. ``replay_dir`` answers requests from recorded responses
    (offline demo and tests) through the same client code. A run whose source budget
    runs out (tasks/literature/budget.py) stops with ``stopped`` naming why; the pages it landed
    stay checkpointed and the next run resumes after them.
    """
    logger = get_run_logger()
    settings = load_settings()
    summary: dict = {"source": source, "pages": 0, "records": 0, "quarantined": 0}
    landed = land_pages(settings, source, query, since, until, lookback_days, replay_dir)
    window = landed.window if landed else None
    if landed and landed.stopped:
        summary |= {"window": f"[{window.since}, {window.until})", "run_id": window.run_id,
                    "pages_landed": len(window.pages), "stopped": landed.stopped}
    elif window is not None:
        result = normalise_pages(settings, source, window)
        watermark = commit_watermark(settings, source, query, window)
        summary |= {
            "window": f"[{window.since}, {window.until})",
            "run_id": window.run_id,
            "pages": result.pages,
            "records_landed": result.records_landed,
            "records": result.records,
            "quarantined": result.quarantined,
            "records_in_unreadable_pages": result.records_in_unreadable_pages,
            "watermark": str(watermark),
        }
        table = SOURCES[source].TABLE
        if settings.warehouse == "postgres":
            load_warehouse(settings, result.processed_key, table, source, window.run_id)
        if build_marts:
            keys = list(processed_versions(lake_from_settings(settings), result.processed_key, table))
            before = mart_versions(settings, table, keys)
            dbt_build(settings)
            dbt_source_freshness(settings)
            after = mart_versions(settings, table, keys)
            summary["inserted"], summary["updated"] = mart_changes(before, after)
            summary["mart"] = table.mart
            summary["mart_rows"] = mart_row_count(settings, table)

    create_table_artifact(
        key=f"literature-sync-{source}",
        table=[{"metric": k, "value": str(v)} for k, v in summary.items()],
        description=f"literature-sync {source} {summary.get('window', '(up to date)')}",
    )
    logger.info("literature-sync %s done: %s", source, summary)
    return summary
