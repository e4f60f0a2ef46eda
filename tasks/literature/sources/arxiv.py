"""arXiv query API (Atom): start/max_results page generator and parser (no Prefect).

``query`` is an arXiv ``search_query`` expression (``cat:cs.LG``, ``ti:"graph"`` …);
it is ANDed with the submission-date window. Empty means the whole window.
arXiv asks for one request every three seconds, which the limiter enforces.
arXiv reports errors as a feed whose single entry is titled ``Error`` and whose id
points at ``…/api/errors#…`` (with HTTP 400 or even 200): that raises ``SourceError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from xml.etree.ElementTree import Element, tostring

import httpx

from tasks.documents import DOCUMENTS, document_id, normalise_doi
from tasks.literature.sources.base import Page, PageError, SourceError
from tasks.literature.sources.http import (
    RateLimiter,
    fetch,
    last_day,
    parse_xml,
    shared_limiter,
)
from tasks.settings import Settings
from tasks.tables import Rejected, excerpt

NAME = "arxiv"
ENTITY = "articles"
TABLE = DOCUMENTS
ONE_ROW_PER_RECORD = True
FORMAT = "xml"
BASE_URL = "https://export.arxiv.org/api/query"
RATE_PER_S = 1 / 3
PAGE_SIZE = 100

ATOM = "{http://www.w3.org/2005/Atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ARXIV = "{http://arxiv.org/schemas/atom}"
_ERROR_ID = "arxiv.org/api/errors"


def search_query(query: str, since: date, until: date) -> str:
    """``(<query>) AND submittedDate:[YYYYMMDD0000 TO YYYYMMDD2359]`` for ``[since, until)``."""
    end = last_day(since, until)
    if end is None:
        raise ValueError(f"empty window [{since}, {until})")
    window = f"submittedDate:[{since:%Y%m%d}0000 TO {end:%Y%m%d}2359]"
    return f"({query}) AND {window}" if query.strip() else window


def iter_pages(
    client: httpx.Client,
    settings: Settings,
    *,
    query: str,
    since: date,
    until: date,
    resume: dict | None = None,
    limiter: RateLimiter | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[Page]:
    """Page with ``start``/``max_results`` in submission order until ``start`` reaches
    ``opensearch:totalResults`` or a page has no entries. ``resume`` is ``{"start": n}``."""
    if last_day(since, until) is None:
        return
    limiter = limiter or shared_limiter(NAME, RATE_PER_S)
    base = {
        "search_query": search_query(query, since, until),
        "sortBy": "submittedDate",
        "sortOrder": "ascending",
        "max_results": page_size,
    }
    start = int((resume or {}).get("start", 0))
    while True:
        fetched = fetch(
            client, NAME, BASE_URL, {**base, "start": start},
            limiter=limiter, settings=settings, describe_error=describe_error,
        )
        try:
            feed = _feed(fetched.body)
        except PageError as exc:
            raise SourceError(NAME, fetched.url, fetched.status_code, str(exc)) from exc
        message = error_message(feed)
        if message:
            raise SourceError(NAME, fetched.url, fetched.status_code, message)
        entries = feed.findall(f"{ATOM}entry")
        if not entries:
            return
        total_text = (feed.findtext(f"{OPENSEARCH}totalResults") or "").strip()
        start += len(entries)
        more = not total_text.isdigit() or start < int(total_text)
        yield Page(
            body=fetched.body,
            url=fetched.url,
            params=fetched.params,
            record_count=len(entries),
            resume={"start": start} if more else None,
        )
        if not more:
            return


def error_message(feed: Element) -> str | None:
    """The text of arXiv's error feed, or None for a normal feed."""
    entries = feed.findall(f"{ATOM}entry")
    if len(entries) != 1:
        return None
    entry_id = (entries[0].findtext(f"{ATOM}id") or "").strip()
    if _ERROR_ID not in entry_id:
        return None
    summary = _collapse(entries[0].findtext(f"{ATOM}summary")) or "(no message)"
    return f"arXiv API error: {summary} ({entry_id})"


def describe_error(body: bytes) -> str | None:
    """Error statuses carry the error feed; report its message rather than raw XML."""
    try:
        return error_message(_feed(body))
    except PageError:
        return None


def parse_page(body: bytes) -> Iterator[dict | Rejected]:
    """One normalised row (or ``Rejected``) per Atom ``entry``."""
    feed = _feed(body)
    message = error_message(feed)
    if message:
        raise PageError(f"arxiv: page is an error feed: {message}")
    for entry in feed.iterfind(f"{ATOM}entry"):
        try:
            yield parse_entry(entry)
        except (AttributeError, TypeError, ValueError) as exc:
            yield Rejected(
                reason=f"unreadable entry: {type(exc).__name__}: {exc}",
                source_id=arxiv_id(entry.findtext(f"{ATOM}id") or "") or None,
                excerpt=_entry_excerpt(entry),
            )


def parse_entry(entry: Element) -> dict | Rejected:
    """Normalise one Atom entry; ``updated_at`` is ``<updated>`` (else ``<published>``)."""
    sid = arxiv_id(entry.findtext(f"{ATOM}id") or "")
    if not sid:
        return Rejected(reason="missing id", excerpt=_entry_excerpt(entry))
    title = _collapse(entry.findtext(f"{ATOM}title"))
    if not title:
        return Rejected(reason="missing title", source_id=sid, excerpt=_entry_excerpt(entry))
    published = _timestamp(entry.findtext(f"{ATOM}published"))
    updated_at = _timestamp(entry.findtext(f"{ATOM}updated")) or published
    if updated_at is None:
        return Rejected(reason="no updated or published date", source_id=sid,
                        excerpt=_entry_excerpt(entry))
    doi = normalise_doi(entry.findtext(f"{ARXIV}doi"))
    primary = entry.find(f"{ARXIV}primary_category")
    topics = [primary.get("term")] if primary is not None and primary.get("term") else []
    for category in entry.iterfind(f"{ATOM}category"):
        term = category.get("term")
        if term and term not in topics:
            topics.append(term)
    url = license_ = None
    for link in entry.iterfind(f"{ATOM}link"):
        rel = link.get("rel")
        if rel == "alternate" and url is None:
            url = link.get("href")
        elif rel == "license":
            license_ = link.get("href")
    return {
        "document_id": document_id(NAME, sid, doi),
        "source": NAME,
        "source_id": sid,
        "doi": doi,
        "title": title,
        "abstract": _collapse(entry.findtext(f"{ATOM}summary")),
        "publication_date": published.date() if published else None,
        "updated_at": updated_at,
        "authors": [
            {"name": name, "orcid": None, "id": None}
            for a in entry.iterfind(f"{ATOM}author")
            if (name := _collapse(a.findtext(f"{ATOM}name")))
        ],
        "venue": _collapse(entry.findtext(f"{ARXIV}journal_ref")) or "arXiv",
        "topics": topics,
        "cited_by_count": None,
        "referenced_ids": [],
        "url": url or (entry.findtext(f"{ATOM}id") or "").strip(),
        "license": license_ or _collapse(entry.findtext(f"{ARXIV}license")),
    }


def arxiv_id(entry_id: str) -> str:
    """``http://arxiv.org/abs/2101.00001v2`` → ``2101.00001``; old style ``cond-mat/0603029``."""
    ident = entry_id.strip().partition("/abs/")[2]
    head, v, number = ident.rpartition("v")
    return head if v and head and number.isdigit() else ident


def _feed(body: bytes) -> Element:
    root = parse_xml(body, NAME)
    if root.tag != f"{ATOM}feed":
        raise PageError(f"arxiv: expected an Atom <feed>, got <{root.tag}>")
    return root


def _collapse(text: str | None) -> str | None:
    return (" ".join(text.split()) or None) if text else None


def _timestamp(text: str | None) -> datetime | None:
    if not text or not text.strip():
        return None
    ts = datetime.fromisoformat(text.strip())
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def _entry_excerpt(entry: Element) -> str:
    return excerpt(tostring(entry, encoding="unicode"))
