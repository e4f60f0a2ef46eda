"""Land a window's API pages in the lake, checkpointing after every page.

Each page is stored byte-for-byte (deterministic gzip) under its raw key, then
the checkpoint in the state file records it together with the token to continue
after it. A process killed at any point resumes from the last recorded page: a
page written but not yet recorded is simply fetched and overwritten again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import httpx

from tasks.lake import Lake, gzip_bytes, manifest_key, raw_key
from tasks.literature.sources.base import Source
from tasks.literature.sources.http import RateLimiter
from tasks.literature.watermark import Checkpoint, StateStore, SyncState


def land_window(
    source: Source,
    client: httpx.Client,
    settings,
    store: StateStore,
    state: SyncState,
    window: Checkpoint,
    flow_run_id: str | None = None,
    limiter: RateLimiter | None = None,
) -> Checkpoint:
    """Fetch and land every page of ``window`` not landed yet; returns the finished checkpoint.

    ``flow_run_id`` (the Prefect run doing it) goes into the manifest for lineage.
    ``limiter`` replaces the source's in-process one (the budget shared by all runs,
    tasks/literature/budget.py); whatever it raises leaves the checkpoint at the last landed page.
    """
    lake = store.lake
    state.in_progress = window
    store.save(state)
    if not window.fetched:
        pages = source.iter_pages(
            client,
            settings,
            query=state.query,
            since=window.since,
            until=window.until,
            resume=window.resume,
            limiter=limiter,
        )
        for page in pages:
            key = raw_key(
                source.NAME, source.ENTITY, window.since, window.run_id, len(window.pages), source.FORMAT
            )
            lake.put(key, gzip_bytes(page.body))
            window.pages.append(
                {
                    "key": key,
                    "sha256": hashlib.sha256(page.body).hexdigest(),
                    "bytes": len(page.body),
                    "records": page.record_count,
                    "url": page.url,
                    "params": page.params,
                }
            )
            window.resume = page.resume
            store.save(state)
        window.fetched, window.resume = True, None
        store.save(state)
    write_manifest(lake, source, state.query, window, flow_run_id)
    return window


def write_manifest(
    lake: Lake, source: Source, query: str, window: Checkpoint, flow_run_id: str | None = None
) -> str:
    """The run's manifest next to its pages: params (no secrets), counts, sha256 per page."""
    key = manifest_key(source.NAME, source.ENTITY, window.since, window.run_id)
    lake.put_json(
        key,
        {
            "source": source.NAME,
            "entity": source.ENTITY,
            "query": query,
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "run_id": window.run_id,
            "flow_run_id": flow_run_id,
            "page_count": len(window.pages),
            "record_count": sum(p["records"] for p in window.pages),
            "pages": window.pages,
            "written_at": datetime.now(timezone.utc).isoformat(),
        },
    )
    return key
