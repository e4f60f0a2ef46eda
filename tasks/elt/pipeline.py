"""One landed file through the ELT: ``ingest`` runs the steps in order.

claim → clean (→ failed/ if unreadable) → stage → publish (write-audit-publish; a failed
audit → failed/ naming the tests) → the other sinks, in parallel → finish (→ processed/
with its manifest). The other sinks wait for the audit, so a file that fails it reaches
no store.

Every step is idempotent, so a run that dies anywhere is finished by the next one: the
claim's lease expires, cleaning is deterministic, staging replaces the file's rows,
the events merge is insert-only on the event id, and each sink records its write in
the ledger and is skipped once recorded.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from tasks.elt import warehouse
from tasks.elt.dataset import Dataset, dataset_names, load_dataset
from tasks.elt.engine import CleanResult, Unreadable, engine
from tasks.elt.files import UNREADABLE_ERRORS, LandedFile, dataset_of, describe, fetch, waiting
from tasks.elt.ledger import Ledger, LostClaim, ledger_url
from tasks.elt.notifications import lake_keys
from tasks.elt.sinks import PostgresEventsSink, VectorTextSink
from tasks.lake import Lake, LakeError, lake_from_settings
from tasks.settings import Settings

WAREHOUSE = "warehouse"
log = logging.getLogger(__name__)


@dataclass
class Context:
    settings: Settings
    lake: Lake
    ledger: Ledger
    run_id: str

    @classmethod
    def open(cls, settings: Settings, run_id: str) -> Context:
        return cls(settings, lake_from_settings(settings), Ledger(ledger_url(settings)), run_id)


@dataclass
class FileReport:
    """The per-file manifest (also one row of the run's artifact)."""

    dataset: str
    key: str
    file_id: str
    size: int
    version: str
    run_id: str
    outcome: str = "pending"
    """done | failed (unreadable or audit) | retry (a sink failed) | skipped (done or held elsewhere)"""
    records: int = 0
    cleaned: int = 0
    quarantined: int = 0
    loaded: int = 0
    """Rows staged into the warehouse (cleaned rows; duplicates of known events included)."""
    new_events: int = 0
    sinks: dict[str, int] = field(default_factory=dict)
    """Rows each sink newly stored in this run (a retry writes only the missing sinks)."""
    reasons: dict[str, int] = field(default_factory=dict)
    detail: str | None = None

    @property
    def reconciles(self) -> bool:
        """read = cleaned + quarantined, and a done file had every cleaned row loaded."""
        return self.records == self.cleaned + self.quarantined and (
            self.outcome != "done" or self.loaded == self.cleaned)


@dataclass
class Discovered:
    files: list[LandedFile]
    ignored: list[dict]


def discover(ctx: Context, notification=None, datasets: list[str] | None = None) -> Discovered:
    """The files a notification names, or everything waiting in landing/ of ``datasets``."""
    known = dataset_names()
    for name in datasets or []:
        if name not in known:
            raise ValueError(f"unknown dataset {name!r}; declared: {', '.join(known)}")
    if notification is None:
        return Discovered(waiting(ctx.lake, datasets or known), [])
    notified = lake_keys(notification, ctx.lake.url)
    files, ignored = [], list(notified.ignored)
    for key in notified.keys:
        dataset = dataset_of(key)
        if dataset not in known or (datasets and dataset not in datasets):
            ignored.append({"object": key, "reason": f"not under landing/<dataset>/ of {datasets or known}"})
            continue
        try:
            files.append(describe(ctx.lake, key))
        except LakeError:
            ignored.append({"object": key, "reason": "gone from landing/ (already processed or deleted)"})
    return Discovered(files, ignored)


def report_for(ctx: Context, landed: LandedFile) -> FileReport:
    return FileReport(landed.dataset, landed.key, landed.file_id, landed.size, landed.version, ctx.run_id)


def claim(ctx: Context, landed: LandedFile, report: FileReport) -> bool:
    outcome = ctx.ledger.claim(file_id=landed.file_id, dataset=landed.dataset, lake_key=landed.key,
                               size=landed.size, version=landed.version, run_id=ctx.run_id,
                               lease_s=ctx.settings.elt_claim_lease_s)
    if not outcome.claimed:
        report.outcome, report.detail = "skipped", f"claim: {outcome.reason}"
    return outcome.claimed


def clean(ctx: Context, landed: LandedFile, report: FileReport, workdir: Path) -> Path | None:
    """Cleaned Parquet (local and in the lake) and the quarantine file; None if unreadable."""
    dataset = load_dataset(landed.dataset)
    parquet, quarantine = workdir / "clean.parquet", workdir / "quarantine.jsonl"
    try:
        plain = fetch(ctx.lake, landed, workdir, ctx.settings.elt_max_file_bytes)
        result: CleanResult = engine(ctx.settings.elt_engine).clean(
            dataset, plain, parquet, quarantine, source_key=landed.key)
    except (Unreadable, *UNREADABLE_ERRORS) as exc:
        fail(ctx, landed, report, f"unreadable: {type(exc).__name__}: {exc}")
        return None
    report.records, report.cleaned, report.quarantined = result.records, result.cleaned, result.quarantined
    report.reasons = result.reasons
    ctx.lake.upload(landed.parquet_key, parquet)
    if result.quarantined:
        ctx.lake.upload(landed.quarantine_key, quarantine)
    ctx.ledger.renew(landed.file_id, ctx.run_id, ctx.settings.elt_claim_lease_s)
    return parquet


def batch_of(ctx: Context, landed: LandedFile) -> str:
    return f"{ctx.run_id}:{landed.file_id}"


def pending_sinks(ctx: Context, landed: LandedFile) -> list[str]:
    """The dataset's sinks this file has not reached yet, of those the settings turn on."""
    dataset = load_dataset(landed.dataset)
    written = ctx.ledger.sinks_written(landed.file_id)
    enabled = {"postgres": bool(ctx.settings.elt_postgres_url), "vector": ctx.settings.elt_vector_sink}
    return [s for s in dataset.sink_names if enabled.get(s, True) and s not in written]


def publish(ctx: Context, landed: LandedFile, report: FileReport, parquet: Path) -> None:
    """Stage the file and publish it to the warehouse's production marts (raises AuditFailed)."""
    dataset = load_dataset(landed.dataset)
    batch = batch_of(ctx, landed)
    report.loaded = warehouse.stage(ctx.settings, dataset, str(parquet), file_id=landed.file_id, batch=batch)
    ctx.ledger.renew(landed.file_id, ctx.run_id, ctx.settings.elt_claim_lease_s)
    published = warehouse.publish(ctx.settings, dataset, batch)
    report.new_events = published.events_after - published.events_before
    report.sinks[WAREHOUSE] = report.new_events
    ctx.ledger.record_sink(landed.file_id, WAREHOUSE, report.new_events, ctx.run_id)


def write_sink(ctx: Context, landed: LandedFile, sink: str, parquet: Path) -> int:
    dataset = load_dataset(landed.dataset)
    written = open_sink(ctx.settings, dataset, sink).write(str(parquet), landed.file_id)
    ctx.ledger.record_sink(landed.file_id, sink, written, ctx.run_id)
    return written


def open_sink(settings: Settings, dataset: Dataset, sink: str):
    if sink == "postgres":
        return PostgresEventsSink(settings.elt_postgres_url.get_secret_value(), dataset)
    if sink == "vector":
        return VectorTextSink(settings, dataset)
    raise ValueError(f"unknown sink {sink!r}")


def finish(ctx: Context, landed: LandedFile, report: FileReport) -> None:
    """Manifest beside the file in processed/, then the file itself, then the ledger."""
    report.outcome = "done"
    ctx.lake.put(f"{landed.done_key}.manifest.json", manifest_bytes(report))
    ctx.lake.move(landed.key, landed.done_key)
    ctx.ledger.finish(landed.file_id, ctx.run_id, "done")


def fail(ctx: Context, landed: LandedFile, report: FileReport, reason: str) -> None:
    """Move the file to failed/ with a reason file beside it; it is never retried as is."""
    report.outcome, report.detail = "failed", reason
    ctx.lake.put(f"{landed.failed_key}.reason.json", manifest_bytes(report))
    ctx.lake.move(landed.key, landed.failed_key)
    ctx.ledger.finish(landed.file_id, ctx.run_id, "failed", reason)


def retry_later(ctx: Context, landed: LandedFile, report: FileReport, reason: str) -> None:
    """A sink failed: keep the file in landing/ and give the claim back for the next run."""
    report.outcome, report.detail = "retry", reason
    ctx.ledger.release(landed.file_id, ctx.run_id, reason)


def manifest_bytes(report: FileReport) -> bytes:
    return orjson.dumps(asdict(report) | {"written_at": time.time()}, option=orjson.OPT_INDENT_2)


def ingest(ctx: Context, landed: LandedFile) -> FileReport:
    """Take one file as far as it can go in this run; the report says where it ended."""
    report = report_for(ctx, landed)
    if not claim(ctx, landed, report):
        return report
    workdir = Path(tempfile.mkdtemp(prefix=f"ki-elt-{landed.file_id[:8]}-"))
    try:
        parquet = clean(ctx, landed, report, workdir)
        if parquet is None:
            return report
        pending = pending_sinks(ctx, landed)
        if WAREHOUSE in pending:
            try:
                publish(ctx, landed, report, parquet)
            except warehouse.AuditFailed as exc:
                warehouse.unstage(ctx.settings, load_dataset(landed.dataset), batch_of(ctx, landed))
                fail(ctx, landed, report, str(exc))
                return report
        else:
            report.loaded = report.cleaned  # published by an earlier run
        errors = write_sinks(ctx, landed, report, [s for s in pending if s != WAREHOUSE], parquet)
        if errors:
            retry_later(ctx, landed, report, "; ".join(f"{s}: {e}" for s, e in errors.items()))
        else:
            finish(ctx, landed, report)
        return report
    except Exception as exc:  # noqa: BLE001 - the file waits for the next run; the others go on
        log.exception("ingesting %s failed", landed.key)
        with contextlib.suppress(LostClaim):  # taken over meanwhile: the other run owns it now
            retry_later(ctx, landed, report, f"{type(exc).__name__}: {exc}")
        return report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def write_sinks(ctx: Context, landed: LandedFile, report: FileReport, sinks: list[str],
                parquet: Path) -> dict[str, str]:
    """Write the sinks in parallel; returns the error of each sink that failed."""
    errors: dict[str, str] = {}
    if not sinks:
        return errors
    with ThreadPoolExecutor(max_workers=len(sinks), thread_name_prefix="elt-sink") as pool:
        futures = {sink: pool.submit(write_sink, ctx, landed, sink, parquet) for sink in sinks}
        for sink, future in futures.items():
            try:
                report.sinks[sink] = future.result()
            except Exception as exc:  # noqa: BLE001 - recorded, retried by the next run
                errors[sink] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return errors
