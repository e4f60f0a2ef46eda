"""Thin Prefect wrappers around the ELT cores (flows/elt_ingest.py wires these)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.elt.files import LandedFile
from tasks.elt.pipeline import Context, Discovered, FileReport, discover, ingest


@task(name="elt-discover", cache_policy=NO_CACHE)
def discover_files(ctx: Context, notification=None, datasets: list[str] | None = None) -> Discovered:
    found = discover(ctx, notification, datasets)
    logger = get_run_logger()
    for ignored in found.ignored:
        logger.warning("ignored %s: %s", ignored["object"], ignored["reason"])
    logger.info("%d file(s) to ingest", len(found.files))
    return found


@task(name="elt-ingest-file", cache_policy=NO_CACHE, task_run_name="ingest {landed.key}")
def ingest_file(ctx: Context, landed: LandedFile) -> FileReport:
    report = ingest(ctx, landed)
    logger = get_run_logger()
    log = logger.warning if report.outcome in ("failed", "retry") else logger.info
    log("%s: %s (read %d, cleaned %d, quarantined %d, new events %d, sinks %s)%s", landed.key,
        report.outcome, report.records, report.cleaned, report.quarantined, report.new_events,
        report.sinks, f": {report.detail}" if report.detail else "")
    return report
