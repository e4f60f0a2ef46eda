"""What every source provides (no Prefect import here).

A coded source is a module, a declared one a ``DeclaredSource`` built from YAML
(tasks/literature/sources/declared.py); both satisfy ``Source``::

    NAME: str                      # "openalex"
    ENTITY: str                    # "works"
    FORMAT: str                    # "json" | "xml": the raw page's file extension in the lake
    TABLE: Table                   # what its records become (tasks.tables)
    ONE_ROW_PER_RECORD: bool       # each landed record → one row or one quarantine entry (reconciled)
    def iter_pages(client: httpx.Client, settings: Settings, *, query: str,
                   since: date, until: date, resume: dict | None,
                   limiter: RateLimiter | None) -> Iterator[Page]
    def parse_page(body: bytes) -> Iterator[dict | Rejected]

``iter_pages`` covers the half-open window ``[since, until)`` and, given the
``resume`` token of a landed page, continues with the page after it; every request
waits on ``limiter`` (default: the source's in-process ``RateLimiter``).
``parse_page`` yields one content dict per record (a row of ``TABLE``) or a
``Rejected``; it raises ``PageError`` when the page as a whole is unreadable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

    from tasks.literature.sources.http import RateLimiter
    from tasks.settings import Settings
    from tasks.tables import Rejected, Table


@dataclass(frozen=True)
class Page:
    body: bytes
    """The response body byte-for-byte, as the API sent it."""
    url: str
    """Request URL with secrets (api_key …) removed."""
    params: dict = field(default_factory=dict)
    """Request parameters with secrets removed."""
    record_count: int = 0
    resume: dict | None = None
    """Token to continue after this page (cursor / start / retstart); None on the last page."""


class SourceError(RuntimeError):
    """A request failed for good: names the source, URL (no secrets), status and a body excerpt."""

    def __init__(self, source: str, url: str, status: int | None, detail: str):
        self.source, self.url, self.status, self.detail = source, url, status, detail
        where = f"HTTP {status}" if status is not None else "request failed"
        super().__init__(f"{source}: {where} for {url}: {detail}")


class PageError(ValueError):
    """A landed page cannot be parsed at all (malformed JSON/XML, XML bomb, …)."""


class Source(Protocol):
    """The contract landing, normalise and the watermark rely on (see the module docstring)."""

    NAME: str
    ENTITY: str
    FORMAT: str
    TABLE: Table
    ONE_ROW_PER_RECORD: bool

    def iter_pages(
        self, client: httpx.Client, settings: Settings, *, query: str,
        since: date, until: date, resume: dict | None = None,
        limiter: RateLimiter | None = None,
    ) -> Iterator[Page]: ...

    def parse_page(self, body: bytes) -> Iterator[dict | Rejected]: ...
