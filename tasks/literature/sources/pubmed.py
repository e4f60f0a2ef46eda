"""PubMed through NCBI E-utilities: ESearch history + EFetch batches, and a parser.

``query`` is an Entrez search term (``"neoplasms"[MeSH Terms]`` …); empty means every
record in the window (``all[sb]``). ESearch with ``usehistory=y`` stores the result
set on NCBI's history server; EFetch then reads it in ``retstart``/``retmax`` batches.
Only EFetch responses are pages. A resumed run searches again for a fresh
``WebEnv`` (they expire) and continues at the landed ``retstart``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timezone
from xml.etree.ElementTree import Element, tostring

import httpx
import orjson

from tasks.documents import DOCUMENTS, document_id, normalise_doi
from tasks.literature.sources.base import Page, PageError, SourceError
from tasks.literature.sources.http import (
    Fetched,
    RateLimiter,
    fetch,
    last_day,
    parse_xml,
    shared_limiter,
)
from tasks.settings import Settings
from tasks.tables import Rejected, excerpt

log = logging.getLogger(__name__)

NAME = "pubmed"
ENTITY = "articles"
TABLE = DOCUMENTS
ONE_ROW_PER_RECORD = True
FORMAT = "xml"
ID_PREFIX = "pmid"
"""document_id prefix for records without a DOI (DESIGN.md: ``pmid:<id>``)."""
EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
ESEARCH_URL = f"{EUTILS}/esearch.fcgi"
EFETCH_URL = f"{EUTILS}/efetch.fcgi"
TOOL = "knowledge-ingest"
BATCH_SIZE = 200
ALL_RECORDS = "all[sb]"
RATE_PER_S = 3.0
RATE_WITH_KEY_PER_S = 10.0
"""NCBI allows 3 requests/s per client, 10 with an API key."""

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_SEASONS = {"winter": 1, "spring": 3, "summer": 6, "fall": 9, "autumn": 9}
_MEDLINE_DATE = re.compile(r"\s*(\d{4})(?:\s+([A-Za-z]+))?(?:\s+(\d{1,2})\b)?")


def rate_per_s(settings: Settings) -> float:
    """The request rate NCBI allows for these settings (higher with an API key)."""
    return RATE_WITH_KEY_PER_S if settings.ncbi_api_key else RATE_PER_S


def iter_pages(
    client: httpx.Client,
    settings: Settings,
    *,
    query: str,
    since: date,
    until: date,
    resume: dict | None = None,
    limiter: RateLimiter | None = None,
    datetype: str = "edat",
    batch_size: int = BATCH_SIZE,
) -> Iterator[Page]:
    """ESearch the window on ``datetype`` (Entrez date by default), then EFetch batches.

    ``resume`` is ``{"retstart": n}``. A Count of 0 (including ESearch's
    ``ErrorList``/PhraseNotFound answer) yields no pages.
    """
    end = last_day(since, until)
    if end is None:
        return
    if not 1 <= batch_size <= 10_000:
        raise ValueError(f"batch_size must be between 1 and 10000, got {batch_size}")
    limiter = limiter or shared_limiter(NAME, rate_per_s(settings))
    common: dict[str, object] = {"db": "pubmed", "tool": TOOL}
    if settings.contact_email:
        common["email"] = settings.contact_email
    if settings.ncbi_api_key:
        common["api_key"] = settings.ncbi_api_key.get_secret_value()
    search = fetch(
        client, NAME, ESEARCH_URL,
        {**common, "term": query.strip() or ALL_RECORDS, "usehistory": "y",
         "datetype": datetype, "mindate": f"{since:%Y/%m/%d}", "maxdate": f"{end:%Y/%m/%d}",
         "retmax": 0},
        limiter=limiter, settings=settings, describe_error=describe_error,
    )
    count, webenv, query_key = _history(search)
    retstart = int((resume or {}).get("retstart", 0))
    while retstart < count:
        fetched = fetch(
            client, NAME, EFETCH_URL,
            {**common, "WebEnv": webenv, "query_key": query_key, "retstart": retstart,
             "retmax": batch_size, "retmode": "xml"},
            limiter=limiter, settings=settings, describe_error=describe_error,
        )
        records = _record_count(fetched)
        if records == 0:
            raise SourceError(
                NAME, fetched.url, fetched.status_code,
                f"EFetch returned no articles at retstart {retstart} of Count {count}; "
                "the history (WebEnv) may have expired: rerun to resume",
            )
        retstart += batch_size
        yield Page(
            body=fetched.body,
            url=fetched.url,
            params=fetched.params,
            record_count=records,
            resume={"retstart": retstart} if retstart < count else None,
        )


def describe_error(body: bytes) -> str | None:
    """E-utilities errors come as JSON ``{"error": …}`` (rate limit, key) or XML ``<ERROR>``."""
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict) and doc.get("error"):
            return f"E-utilities error: {doc['error']}"
    except orjson.JSONDecodeError:
        pass
    try:
        root = parse_xml(body, NAME)
    except PageError:
        return None
    message = _collapse(root.findtext("ERROR"))
    return f"E-utilities error: {message}" if message else None


def _history(search: Fetched) -> tuple[int, str, str]:
    """Count, WebEnv and query_key of an ESearch answer; errors raise ``SourceError``."""
    try:
        root = parse_xml(search.body, NAME)
    except PageError as exc:
        raise SourceError(NAME, search.url, search.status_code, str(exc)) from exc
    message = _collapse(root.findtext("ERROR"))
    if root.tag != "eSearchResult" or message:
        raise SourceError(NAME, search.url, search.status_code,
                          f"ESearch failed: {message or f'unexpected <{root.tag}>'}")
    count_text = (root.findtext("Count") or "").strip()
    if not count_text.isdigit():
        raise SourceError(NAME, search.url, search.status_code, "ESearch answer has no Count")
    count = int(count_text)
    errors = [f"{e.tag}: {_collapse(e.text)}" for e in root.iterfind("ErrorList/*")]
    if errors:
        log.warning("pubmed: ESearch reported %s (Count %d) for %s", "; ".join(errors), count,
                    search.url)
    if count == 0:
        return 0, "", ""
    webenv = (root.findtext("WebEnv") or "").strip()
    query_key = (root.findtext("QueryKey") or "").strip()
    if not webenv or not query_key:
        raise SourceError(NAME, search.url, search.status_code,
                          "ESearch answer has no WebEnv/QueryKey (usehistory=y ignored?)")
    return count, webenv, query_key


def _record_count(fetched: Fetched) -> int:
    try:
        root = _article_set(fetched.body)
    except PageError as exc:
        raise SourceError(NAME, fetched.url, fetched.status_code, str(exc)) from exc
    return sum(1 for child in root if child.tag in ("PubmedArticle", "PubmedBookArticle"))


def _article_set(body: bytes) -> Element:
    root = parse_xml(body, NAME)
    if root.tag != "PubmedArticleSet":
        message = _collapse(root.findtext("ERROR"))
        raise PageError(
            f"pubmed: expected <PubmedArticleSet>, got <{root.tag}>"
            + (f": {message}" if message else "")
        )
    return root


def parse_page(body: bytes) -> Iterator[dict | Rejected]:
    """One normalised row (or ``Rejected``) per ``PubmedArticle`` of an EFetch page.

    ``PubmedBookArticle`` records (NCBI Bookshelf) are rejected with that reason rather
    than guessed at; ``DeleteCitation`` lists deletions, not documents.
    """
    for child in _article_set(body):
        if child.tag == "PubmedBookArticle":
            yield Rejected(reason="PubmedBookArticle records are not supported",
                           source_id=_collapse(child.findtext("BookDocument/PMID")),
                           excerpt=_excerpt(child))
        elif child.tag == "PubmedArticle":
            try:
                yield parse_article(child)
            except (AttributeError, TypeError, ValueError) as exc:
                yield Rejected(
                    reason=f"unreadable article: {type(exc).__name__}: {exc}",
                    source_id=_collapse(child.findtext("MedlineCitation/PMID")),
                    excerpt=_excerpt(child),
                )


def parse_article(node: Element) -> dict | Rejected:
    """Normalise one ``PubmedArticle``.

    ``publication_date`` is ``ArticleDate`` (electronic) when present, else the
    journal issue ``PubDate`` (missing month/day → 1). ``updated_at`` is
    ``DateRevised`` at 00:00 UTC, else ``DateCompleted``, else the publication date.
    """
    citation = node.find("MedlineCitation")
    pmid = _collapse(citation.findtext("PMID")) if citation is not None else None
    if not pmid:
        return Rejected(reason="missing PMID", excerpt=_excerpt(node))
    article = citation.find("Article")
    title = _text(article.find("ArticleTitle")) if article is not None else None
    if not title:
        return Rejected(reason="missing ArticleTitle", source_id=pmid, excerpt=_excerpt(node))

    ids = node.findall("PubmedData/ArticleIdList/ArticleId")
    doi = next((normalise_doi(e.text) for e in ids if e.get("IdType") == "doi"), None) or next(
        (normalise_doi(e.text) for e in article.iterfind("ELocationID") if e.get("EIdType") == "doi"),
        None,
    )
    published = _publication_date(article)
    revised = _ymd(citation.find("DateRevised")) or _ymd(citation.find("DateCompleted")) or published
    if revised is None:
        return Rejected(reason="no DateRevised, DateCompleted or publication date",
                        source_id=pmid, excerpt=_excerpt(node))
    abstract = []
    for part in article.iterfind("Abstract/AbstractText"):
        text = _text(part)
        if text:
            label = part.get("Label")
            abstract.append(f"{label}: {text}" if label else text)
    topics = [t for d in citation.iterfind("MeshHeadingList/MeshHeading/DescriptorName")
              if (t := _text(d))]
    if not topics:
        topics = [t for k in citation.iterfind("KeywordList/Keyword") if (t := _text(k))]
    return {
        "document_id": document_id(ID_PREFIX, pmid, doi),
        "source": NAME,
        "source_id": pmid,
        "doi": doi,
        "title": title,
        "abstract": "\n".join(abstract) or None,
        "publication_date": published,
        "updated_at": datetime.combine(revised, time(), timezone.utc),
        "authors": _authors(article),
        "venue": _collapse(article.findtext("Journal/Title")),
        "topics": topics,
        "cited_by_count": None,
        "referenced_ids": _references(node),
        "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
        "license": None,
    }


def _authors(article: Element) -> list[dict]:
    """``ForeName LastName`` (given name first, like OpenAlex and arXiv) or CollectiveName."""
    authors = []
    for author in article.iterfind("AuthorList/Author"):
        if author.get("ValidYN") == "N":  # superseded by an erratum
            continue
        parts = (_collapse(author.findtext("ForeName") or author.findtext("Initials")),
                 _collapse(author.findtext("LastName")))
        name = " ".join(p for p in parts if p) or _text(author.find("CollectiveName"))
        if not name:
            continue
        orcid = next((_collapse(i.text) for i in author.iterfind("Identifier")
                      if i.get("Source") == "ORCID" and i.text), None)
        authors.append({"name": name, "orcid": orcid.rpartition("/")[2] if orcid else None,
                        "id": None})
    return authors


def _references(node: Element) -> list[str]:
    """Cited works as document ids (``doi:…`` when the citation lists one, else ``pmid:…``)."""
    refs = []
    for id_list in node.iterfind("PubmedData/ReferenceList/Reference/ArticleIdList"):
        by_type = {e.get("IdType"): _collapse(e.text) for e in id_list}
        pmid, doi = by_type.get("pubmed"), normalise_doi(by_type.get("doi"))
        if pmid or doi:
            refs.append(document_id(ID_PREFIX, pmid or "", doi))
    return refs


def _publication_date(article: Element) -> date | None:
    found = _ymd(article.find("ArticleDate"))
    if found:
        return found
    pub = article.find("Journal/JournalIssue/PubDate")
    if pub is None:
        return None
    return _ymd(pub) or _medline_date(pub.findtext("MedlineDate"))


def _ymd(node: Element | None) -> date | None:
    """A date from ``Year``/``Month``/``Day`` (or ``Season``); month names allowed."""
    if node is None:
        return None
    year = (node.findtext("Year") or "").strip()
    if not year.isdigit():
        return None
    month = _month(node.findtext("Month") or node.findtext("Season"))
    day = (node.findtext("Day") or "").strip()
    try:
        return date(int(year), month, int(day) if day.isdigit() else 1)
    except ValueError:
        return date(int(year), month, 1)


def _month(text: str | None) -> int:
    text = (text or "").strip().lower()
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else 1
    return _MONTHS.get(text[:3]) or _SEASONS.get(text) or 1


def _medline_date(text: str | None) -> date | None:
    """``1998 Dec-1999 Jan`` → 1998-12-01, ``2000 Spring`` → 2000-03-01, ``1999-2000`` → 1999-01-01."""
    match = _MEDLINE_DATE.match(text or "")
    if not match:
        return None
    year, month, day = match.groups()
    try:
        return date(int(year), _month(month), int(day) if day else 1)
    except ValueError:
        return date(int(year), _month(month), 1)


def _text(node: Element | None) -> str | None:
    """All text of an element, inline markup (``<i>``, ``<sup>``) included, whitespace collapsed."""
    return _collapse("".join(node.itertext())) if node is not None else None


def _collapse(text: str | None) -> str | None:
    return (" ".join(text.split()) or None) if text else None


def _excerpt(node: Element) -> str:
    return excerpt(tostring(node, encoding="unicode"))
