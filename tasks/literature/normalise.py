"""Landed pages → normalised rows of the source's table in Parquet; rejects → quarantine.

One Parquet file per window (``processed/…/<run_id>.parquet``) and one JSON-lines
quarantine file next to it, both written atomically and overwritten by a re-run,
so a window never contributes twice. Rows stream into Parquet row groups, so
memory stays bounded by one batch however large the window is.

Every window reconciles: for sources that give one row per record, the records the
pages held when they were landed = rows written + records quarantined (one by one, or
with their whole unreadable page); a window that does not balance fails the run.
"""

from __future__ import annotations

import gc
import hashlib
import io
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.lake import Lake, LakeError, gunzip_bounded, processed_key, quarantine_key
from tasks.literature.sources.base import PageError, Source
from tasks.literature.watermark import Checkpoint
from tasks.tables import RecordError, Rejected, Table, excerpt

ROW_GROUP_ROWS = 20_000


class ReconciliationError(RuntimeError):
    """Records were lost (or invented) between landing a window and writing its Parquet."""


@dataclass(frozen=True)
class NormaliseResult:
    pages: int
    records: int
    """Rows written."""
    quarantined: int
    """Quarantine entries: one per rejected record or unreadable page."""
    processed_key: str
    quarantine_key: str | None
    records_landed: int = 0
    """Records the landed pages held (the paginator's count)."""
    records_in_unreadable_pages: int = 0


def page_rows(
    source: Source,
    lake: Lake,
    page: dict,
    *,
    run_id: str,
    ingested_at: datetime,
    max_bytes: int,
) -> tuple[list[dict], list[dict], bool]:
    """Rows and quarantine entries of one landed page, and whether the page was unreadable;
    never raises for bad content."""
    key = page["key"]
    try:
        body = gunzip_bounded(lake.get(key, max_bytes=max_bytes), max_bytes)
        if hashlib.sha256(body).hexdigest() != page["sha256"]:
            raise LakeError("page does not match the sha256 in its manifest")
        return *body_rows(source, body, raw_key=key, run_id=run_id, ingested_at=ingested_at), False
    except (LakeError, PageError) as exc:
        # The page's records are all quarantined together: none of them is half-kept.
        return [], [_reject(key, f"unreadable page: {exc}", None, "")], True


def body_rows(
    source: Source, body: bytes, *, raw_key: str, run_id: str, ingested_at: datetime
) -> tuple[list[dict], list[dict]]:
    """Finalised rows and quarantine entries of one raw page body; PageError if unreadable.

    Shared by normalise and ``knowledge-ingest sources parse``, so a user checking a
    saved response sees exactly what a sync would write and quarantine.
    """
    rows: list[dict] = []
    rejects: list[dict] = []
    for item in source.parse_page(body):
        if isinstance(item, Rejected):
            rejects.append(_reject(raw_key, item.reason, item.source_id, item.excerpt))
            continue
        try:
            rows.append(source.TABLE.finalise(item, run_id=run_id, ingested_at=ingested_at, raw_key=raw_key))
        except RecordError as exc:
            rejects.append(_reject(raw_key, str(exc), item.get("source_id"), excerpt(item)))
    return rows, rejects


def _reject(raw_key: str, reason: str, source_id: str | None, text: str) -> dict:
    return {"raw_key": raw_key, "reason": reason, "source_id": source_id, "excerpt": text}


@contextmanager
def _cyclic_gc_paused():
    """Bulk parsing allocates millions of acyclic dicts/lists; the cyclic collector would
    rescan the growing batch again and again (measured: ~2x slower). Refcounting still
    frees everything; the collector is restored afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def normalise_window(
    source: Source,
    lake: Lake,
    window: Checkpoint,
    *,
    ingested_at: datetime,
    max_bytes: int,
) -> NormaliseResult:
    records, batch, rejects, unreadable, whole_pages = 0, [], [], 0, 0
    schema = source.TABLE.schema
    buf = io.BytesIO()
    with _cyclic_gc_paused(), pq.ParquetWriter(buf, schema, compression="zstd") as writer:
        for page in window.pages:
            rows, bad, whole_page = page_rows(
                source, lake, page, run_id=window.run_id, ingested_at=ingested_at, max_bytes=max_bytes
            )
            if whole_page:
                whole_pages, unreadable = whole_pages + 1, unreadable + page["records"]
            rejects.extend(bad)
            batch.extend(rows)
            if len(batch) >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                records, batch = records + len(batch), []
        # Always written, even empty: an empty window still gets its (empty) file.
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        records += len(batch)

    landed = sum(p["records"] for p in window.pages)
    one_by_one = len(rejects) - whole_pages
    if source.ONE_ROW_PER_RECORD and records + one_by_one + unreadable != landed:
        raise ReconciliationError(
            f"{source.NAME} window {window.run_id}: the landed pages held {landed} records, but "
            f"{records} rows were written, {one_by_one} records quarantined and {unreadable} were in "
            f"unreadable pages; nothing was published")
    args = (source.NAME, source.ENTITY, window.since, window.run_id)
    out_key, q_key = processed_key(*args), quarantine_key(*args)
    lake.put(out_key, buf.getvalue())
    if rejects:
        lake.put(q_key, b"".join(orjson.dumps(r) + b"\n" for r in rejects))
    else:
        lake.delete(q_key)
    return NormaliseResult(
        pages=len(window.pages),
        records=records,
        quarantined=len(rejects),
        processed_key=out_key,
        quarantine_key=q_key if rejects else None,
        records_landed=landed,
        records_in_unreadable_pages=unreadable,
    )


def processed_versions(lake: Lake, key: str, table: Table) -> dict[str, str]:
    """key → record_hash of one processed file of ``table``."""
    cols = pq.read_table(lake.path(key), columns=[table.key, "record_hash"], filesystem=lake.fs)
    return dict(zip(cols[table.key].to_pylist(), cols["record_hash"].to_pylist()))
