"""Per source-and-query sync state kept in the lake (``state/<source>/<query>.json``).

The state holds the committed watermark (the exclusive end of the last fully
landed and normalised window) and, while a window is being fetched, a checkpoint
of the pages already landed with the token to continue after them. A run that
dies leaves the checkpoint; the next run resumes from it instead of starting over.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from tasks.lake import Lake, state_key


def query_slug(query: str) -> str:
    """Readable, collision-safe file name for a query ('' → 'all')."""
    if not query:
        return "all"
    readable = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")[:40] or "q"
    return f"{readable}-{hashlib.sha256(query.encode()).hexdigest()[:8]}"


def window_run_id(source: str, query: str, since: date, until: date) -> str:
    """Deterministic id of a window: re-running it lands on the same lake keys."""
    digest = hashlib.sha256(f"{source}\0{query}".encode()).hexdigest()[:8]
    return f"{since:%Y%m%d}-{until:%Y%m%d}-{digest}"


@dataclass
class Checkpoint:
    since: date
    until: date
    run_id: str
    pages: list[dict] = field(default_factory=list)
    resume: dict | None = None
    fetched: bool = False
    """True once the source said there are no more pages."""


@dataclass
class SyncState:
    source: str
    query: str
    watermark: date | None = None
    in_progress: Checkpoint | None = None

    def to_json(self) -> dict:
        return asdict(self) | {
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "in_progress": _checkpoint_json(self.in_progress),
        }

    @classmethod
    def from_json(cls, obj: dict) -> SyncState:
        cp = obj.get("in_progress")
        return cls(
            source=obj["source"],
            query=obj["query"],
            watermark=date.fromisoformat(obj["watermark"]) if obj.get("watermark") else None,
            in_progress=Checkpoint(
                since=date.fromisoformat(cp["since"]),
                until=date.fromisoformat(cp["until"]),
                run_id=cp["run_id"],
                pages=cp["pages"],
                resume=cp["resume"],
                fetched=cp["fetched"],
            )
            if cp
            else None,
        )


def _checkpoint_json(cp: Checkpoint | None) -> dict | None:
    if cp is None:
        return None
    return asdict(cp) | {"since": cp.since.isoformat(), "until": cp.until.isoformat()}


class StateStore:
    def __init__(self, lake: Lake):
        self.lake = lake

    def load(self, source: str, query: str) -> SyncState:
        obj = self.lake.get_json(state_key(source, query_slug(query)))
        return SyncState.from_json(obj) if obj else SyncState(source=source, query=query)

    def save(self, state: SyncState) -> None:
        self.lake.put_json(state_key(state.source, query_slug(state.query)), state.to_json())


def plan_window(
    state: SyncState,
    since: date | None,
    until: date | None,
    today: date,
    lookback_days: int = 1,
) -> Checkpoint | None:
    """The window this run covers.

    An explicit ``since``/``until`` is a backfill of exactly that window (resuming
    its checkpoint if one exists). Otherwise an interrupted window is finished
    first; else the next window runs from the watermark (or ``lookback_days``
    before ``until``) to ``until`` (default: today, so only complete days).
    None means the watermark is already at ``until``: nothing to sync.
    """
    cp = state.in_progress
    if since is None and until is None and cp is not None:
        return cp
    explicit = since is not None
    until = until or today
    since = since or state.watermark or until - timedelta(days=lookback_days)
    if since >= until and not explicit:
        return None
    if since >= until:
        raise ValueError(f"empty window: since {since} is not before until {until}")
    run_id = window_run_id(state.source, state.query, since, until)
    if cp is not None and cp.run_id == run_id:
        return cp
    return Checkpoint(since=since, until=until, run_id=run_id)


def commit_window(state: SyncState, window: Checkpoint) -> None:
    """Advance the watermark over a finished window; a backfill never moves it back."""
    contiguous = state.watermark is None or window.since <= state.watermark
    if contiguous and (state.watermark is None or window.until > state.watermark):
        state.watermark = window.until
    if state.in_progress is not None and state.in_progress.run_id == window.run_id:
        state.in_progress = None
