"""Thin Prefect tasks around the literature sync cores (landing, normalise, watermark)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from tasks.lake import lake_from_settings
from tasks.literature.budget import BudgetExhausted, SharedLimiter, budget_of
from tasks.literature.landing import land_window
from tasks.literature.normalise import NormaliseResult, normalise_window
from tasks.literature.sources import SOURCES
from tasks.literature.sources.http import make_client
from tasks.literature.sources.replay import replay_transport
from tasks.literature.watermark import (
    Checkpoint,
    StateStore,
    commit_window,
    plan_window,
)
from tasks.settings import Settings


@dataclass(frozen=True)
class Landed:
    window: Checkpoint
    stopped: str | None = None
    """Why landing stopped before the window's end (``BudgetExhausted.reason``); the
    checkpoint keeps the pages landed so far and the next run resumes after them."""


@task(name="land-pages", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def land_pages(
    settings: Settings,
    source: str,
    query: str,
    since: date | None,
    until: date | None,
    lookback_days: int,
    replay_dir: str | None,
) -> Landed | None:
    """Land the window's pages; a retry (or the next run) continues from the checkpoint.

    Requests spend the source's budget shared by all its runs (tasks/literature/budget.py). An
    exhausted budget is not an error to retry: the run stops with its reason.
    Returns None when the watermark is already at the end of the window (up to date).
    """
    logger = get_run_logger()
    store = StateStore(lake_from_settings(settings))
    state = store.load(source, query)
    window = plan_window(state, since, until, datetime.now(timezone.utc).date(), lookback_days)
    if window is None:
        logger.info("%s is up to date (watermark %s)", source, state.watermark)
        return None
    if window.pages:
        logger.info("Resuming %s window %s: %d pages already landed", source, window.run_id, len(window.pages))
    transport = replay_transport(Path(replay_dir)) if replay_dir else None
    limiter = SharedLimiter(budget_of(source), wait_timeout_s=settings.budget_wait_timeout_s)
    with make_client(settings, transport=transport) as client:
        try:
            window = land_window(SOURCES[source], client, settings, store, state, window, flow_run.id, limiter)
        except BudgetExhausted as exc:
            logger.warning("Stopped %s after %d pages: %s", source, len(window.pages), exc)
            return Landed(window, stopped=exc.reason)
    logger.info("Landed %d pages for %s [%s, %s)", len(window.pages), source, window.since, window.until)
    return Landed(window)


@task(name="normalise-pages", retries=1, cache_policy=NO_CACHE)
def normalise_pages(settings: Settings, source: str, window: Checkpoint) -> NormaliseResult:
    result = normalise_window(
        SOURCES[source],
        lake_from_settings(settings),
        window,
        ingested_at=datetime.now(timezone.utc),
        max_bytes=settings.max_response_bytes,
    )
    logger = get_run_logger()
    logger.info("Normalised %d records to %s", result.records, result.processed_key)
    if result.quarantined:
        logger.warning("Quarantined %d records in %s", result.quarantined, result.quarantine_key)
    return result


@task(name="commit-watermark", cache_policy=NO_CACHE)
def commit_watermark(settings: Settings, source: str, query: str, window: Checkpoint) -> date | None:
    """Only called once the window's pages are landed and normalised."""
    store = StateStore(lake_from_settings(settings))
    state = store.load(source, query)
    commit_window(state, window)
    store.save(state)
    return state.watermark
