"""OpenAlex works: cursor-paged page generator and a fast page parser (no Prefect).

``query`` is an optional free-text ``search`` (an empty string means no search);
the date window is always a ``filter``. Without an API key the window filters on
publication date; with one it filters on ``updated_date``, which OpenAlex only
allows with a key and which is what an incremental sync wants (it catches
corrections and new citations of older works).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timezone

import httpx
import orjson

from tasks.documents import DOCUMENTS, document_id, normalise_doi
from tasks.literature.sources.base import Page, PageError, SourceError
from tasks.literature.sources.http import RateLimiter, fetch, last_day, shared_limiter
from tasks.settings import Settings
from tasks.tables import Rejected, excerpt

NAME = "openalex"
ENTITY = "works"
TABLE = DOCUMENTS
ONE_ROW_PER_RECORD = True
FORMAT = "json"
BASE_URL = "https://api.openalex.org/works"
RATE_PER_S = 10.0
"""OpenAlex's long-documented limit of 10 requests per second."""
PER_PAGE = 100
"""The API maximum for ``per_page``."""


def window_params(
    settings: Settings, *, query: str, since: date, until: date, per_page: int
) -> dict:
    """Request parameters (without ``cursor``) for the half-open window ``[since, until)``."""
    if not 1 <= per_page <= PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {PER_PAGE}, got {per_page}")
    end = last_day(since, until)
    if end is None:
        raise ValueError(f"empty window [{since}, {until})")
    field = "updated_date" if settings.openalex_api_key else "publication_date"
    params: dict[str, object] = {
        "filter": f"from_{field}:{since.isoformat()},to_{field}:{end.isoformat()}",
        "per_page": per_page,
    }
    if query:
        params["search"] = query
    if settings.contact_email:
        params["mailto"] = settings.contact_email
    if settings.openalex_api_key:
        params["api_key"] = settings.openalex_api_key.get_secret_value()
    return params


def iter_pages(
    client: httpx.Client,
    settings: Settings,
    *,
    query: str,
    since: date,
    until: date,
    resume: dict | None = None,
    limiter: RateLimiter | None = None,
    per_page: int = PER_PAGE,
) -> Iterator[Page]:
    """Follow ``meta.next_cursor`` from ``cursor=*`` (or the resumed cursor) to the end.

    Stops when ``next_cursor`` is null or a page has no results; empty pages are not
    yielded. ``resume`` is ``{"cursor": …}`` taken from a landed page.
    """
    if last_day(since, until) is None:
        return
    params = window_params(settings, query=query, since=since, until=until, per_page=per_page)
    limiter = limiter or shared_limiter(NAME, RATE_PER_S)
    cursor = (resume or {}).get("cursor") or "*"
    while cursor:
        fetched = fetch(
            client, NAME, BASE_URL, {**params, "cursor": cursor},
            limiter=limiter, settings=settings, describe_error=describe_error,
        )
        try:
            meta, results = _envelope(fetched.body)
        except PageError as exc:
            raise SourceError(NAME, fetched.url, fetched.status_code, str(exc)) from exc
        if not results:
            return
        cursor = meta.get("next_cursor")
        yield Page(
            body=fetched.body,
            url=fetched.url,
            params=fetched.params,
            record_count=len(results),
            resume={"cursor": cursor} if cursor else None,
        )


def describe_error(body: bytes) -> str | None:
    """OpenAlex error bodies are ``{"error": …, "message": …}``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    parts = [str(doc[k]) for k in ("error", "message") if doc.get(k)]
    return ": ".join(parts) or None


def _envelope(body: bytes) -> tuple[dict, list]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PageError(f"openalex: page is not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise PageError("openalex: page is not a list response (no 'results' array)")
    meta = doc.get("meta")
    return (meta if isinstance(meta, dict) else {}), doc["results"]


def parse_page(body: bytes) -> Iterator[dict | Rejected]:
    """One normalised row (or ``Rejected``) per work of a ``/works`` list page."""
    _, results = _envelope(body)
    for work in results:
        if not isinstance(work, dict):
            yield Rejected(reason="record is not a JSON object", excerpt=excerpt(work))
            continue
        try:
            yield parse_work(work)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            sid = work.get("id")
            yield Rejected(
                reason=f"unreadable work: {type(exc).__name__}: {exc}",
                source_id=_short(sid) if isinstance(sid, str) else None,
                excerpt=excerpt(work),
            )


def parse_work(work: dict) -> dict | Rejected:
    """Normalise one OpenAlex work; malformed values raise, missing id/title reject.

    ``updated_at`` is ``updated_date``; without it ``created_date``, then the
    publication date, at 00:00 UTC.
    """
    wid = work.get("id")
    if not wid:
        return Rejected(reason="missing id", excerpt=excerpt(work))
    sid = _short(wid)
    title = work.get("display_name") or work.get("title")
    if not title:
        return Rejected(reason="missing title", source_id=sid, excerpt=excerpt(work))
    doi_url = work.get("doi")
    doi = normalise_doi(doi_url)
    published = work.get("publication_date")
    publication_date = date.fromisoformat(published) if published else None
    updated_at = _timestamp(work.get("updated_date") or work.get("created_date"))
    if updated_at is None and publication_date is not None:
        updated_at = datetime.combine(publication_date, time(), timezone.utc)
    if updated_at is None:
        return Rejected(reason="no updated_date, created_date or publication_date",
                        source_id=sid, excerpt=excerpt(work))

    authors = []
    for authorship in work.get("authorships") or ():
        author = authorship.get("author") or {}
        orcid = author.get("orcid")
        aid = author.get("id")
        authors.append({
            "name": author.get("display_name") or authorship.get("raw_author_name"),
            "orcid": _short(orcid) if orcid else None,
            "id": _short(aid) if aid else None,
        })
    location = work.get("primary_location") or {}
    venue = (location.get("source") or {}).get("display_name")
    license_ = location.get("license") or (work.get("best_oa_location") or {}).get("license")
    topics = [t["display_name"] for t in work.get("topics") or () if t.get("display_name")]
    if not topics:
        topics = [c["display_name"] for c in work.get("concepts") or () if c.get("display_name")]
    inverted = work.get("abstract_inverted_index")
    return {
        "document_id": document_id(NAME, sid, doi),
        "source": NAME,
        "source_id": sid,
        "doi": doi,
        "title": title,
        "abstract": rebuild_abstract(inverted) if inverted else None,
        "publication_date": publication_date,
        "updated_at": updated_at,
        "authors": authors,
        "venue": venue,
        "topics": topics,
        "cited_by_count": work.get("cited_by_count"),
        "referenced_ids": ["openalex:" + _short(w) for w in work.get("referenced_works") or ()],
        "url": doi_url or wid,
        "license": license_,
    }


def rebuild_abstract(inverted: dict[str, list[int]]) -> str:
    """Plain text from ``abstract_inverted_index`` (word → positions)."""
    size = 0
    for positions in inverted.values():
        size += len(positions)
    words: list[str | None] = [None] * size
    try:
        for word, positions in inverted.items():
            for p in positions:
                words[p] = word
    except IndexError:  # gaps in the positions: order them explicitly
        by_position = {p: w for w, ps in inverted.items() for p in ps}
        return " ".join([by_position[p] for p in sorted(by_position)])
    if None in words:
        return " ".join([w for w in words if w is not None])
    return " ".join(words)


def _short(openalex_url: str) -> str:
    """``https://openalex.org/W123`` → ``W123``; ``https://orcid.org/0000-…`` → ``0000-…``."""
    return openalex_url.rpartition("/")[2]


def _timestamp(value: str | None) -> datetime | None:
    """OpenAlex timestamps are naive UTC (``2025-06-11T00:03:37.532706``) or dates."""
    if not value:
        return None
    ts = datetime.fromisoformat(value)
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
