"""PubMed: parser on the real EFetch recording, ESearch/EFetch history paging, rate, errors.

Articles built in this file (``synthetic_article``) are synthetic: they exercise
PubMed DTD elements the recording lacks (labelled abstracts, ORCID, MedlineDate …).
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import pytest

from tasks.documents import CONTENT_NAMES, finalise
from tasks.literature.sources import pubmed
from tasks.literature.sources.base import PageError, SourceError
from tasks.literature.sources.http import RateLimiter
from tasks.literature.sources.replay import RECORDINGS
from tasks.tables import Rejected
from tests.fakes import FakeClock, source_settings

settings = source_settings


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EFETCH = (RECORDINGS / "pubmed" / "pubmed2.xml").read_bytes()
ESEARCH = (RECORDINGS / "pubmed" / "esearch2.xml").read_bytes()
ESEARCH_EMPTY = (RECORDINGS / "pubmed" / "esearch8.xml").read_bytes()
WEBENV = "MCID_6927d6e7fee3e90f880ec190"  # as recorded in esearch2.xml
SINCE, UNTIL = date(2024, 1, 1), date(2024, 2, 1)


def limiter(rate: float = pubmed.RATE_PER_S, clock: FakeClock | None = None) -> RateLimiter:
    clock = clock or FakeClock()
    return RateLimiter(rate, clock=clock.clock, sleep=clock.sleep)


def article_set(*articles: str) -> bytes:
    return ("<PubmedArticleSet>" + "".join(articles) + "</PubmedArticleSet>").encode()


def synthetic_article(pmid="900001", *, title="A <i>synthetic</i> title.", extra_article="",
                      pubdate="<Year>2019</Year><Month>Feb</Month><Day>30</Day>",
                      dates="<DateRevised><Year>2020</Year><Month>05</Month><Day>06</Day></DateRevised>",
                      pubmed_data="") -> str:
    pmid_xml = f'<PMID Version="1">{pmid}</PMID>' if pmid else ""
    title_xml = f"<ArticleTitle>{title}</ArticleTitle>" if title is not None else ""
    return (
        f"<PubmedArticle><MedlineCitation>{pmid_xml}{dates}<Article>"
        f"<Journal><JournalIssue><PubDate>{pubdate}</PubDate></JournalIssue>"
        f"<Title>Synthetic Journal</Title></Journal>{title_xml}{extra_article}</Article>"
        f"</MedlineCitation><PubmedData>{pubmed_data}</PubmedData></PubmedArticle>"
    )


# --- parser -----------------------------------------------------------------------

def test_parse_real_efetch_fields():
    rows = list(pubmed.parse_page(EFETCH))
    assert [r["source_id"] for r in rows] == ["11748933", "11700088"]
    row = rows[0]
    assert list(row) == CONTENT_NAMES
    assert row["source"] == "pubmed"
    assert row["doi"] == "10.1006/cryo.2001.2328"
    assert row["document_id"] == "doi:10.1006/cryo.2001.2328"
    assert row["title"] == ("Is cryopreservation a homogeneous process? Ultrastructure and motility "
                            "of untreated, prefreezing, and postthawed spermatozoa of Diplodus "
                            "puntazzo (Cetti).")
    assert row["abstract"].startswith("This study subdivides the cryopreservation procedure for "
                                      "Diplodus puntazzo spermatozoa into three key phases")
    assert "(P < 0.001)" in row["abstract"]  # entity &lt; decoded
    assert len(row["authors"]) == 8
    assert row["authors"][0] == {"name": "A R Taddei", "orcid": None, "id": None}
    assert row["venue"] == "Cryobiology"
    assert len(row["topics"]) == 11 and row["topics"][:2] == ["Animals", "Cell Membrane"]
    assert row["publication_date"] == date(2001, 6, 1)  # PubDate 2001 Jun, no day
    assert row["updated_at"] == datetime(2006, 11, 15, tzinfo=timezone.utc)  # DateRevised
    assert row["url"] == "https://pubmed.ncbi.nlm.nih.gov/11748933/"
    assert row["cited_by_count"] is None and row["referenced_ids"] == [] and row["license"] is None
    second = rows[1]
    assert second["document_id"] == "doi:10.1006/jmre.2001.2429"
    assert second["venue"] == "Journal of magnetic resonance (San Diego, Calif. : 1997)"
    assert second["topics"] == []  # PubMed-not-MEDLINE: no MeSH, no keywords
    assert [a["name"] for a in second["authors"]][-1] == "F De Luca"
    assert second["publication_date"] == date(2001, 11, 1)
    for r in rows:
        finalise(r, run_id="r", ingested_at=datetime.now(timezone.utc), raw_key="raw/k")


def test_article_without_doi_uses_pmid_identity():
    body = EFETCH.replace(b'<ArticleId IdType="doi">10.1006/cryo.2001.2328</ArticleId>', b"")
    row = next(pubmed.parse_page(body))
    assert row["doi"] is None and row["document_id"] == "pmid:11748933"


def test_synthetic_article_covers_the_dtd_variants():
    extra = (
        '<ELocationID EIdType="doi" ValidYN="Y">10.5555/SYN.1</ELocationID>'
        "<Abstract><AbstractText Label=\"BACKGROUND\">Why.</AbstractText>"
        "<AbstractText Label=\"RESULTS\">What <b>we</b> found.</AbstractText></Abstract>"
        "<AuthorList>"
        '<Author><LastName>Doe</LastName><ForeName>Jane</ForeName>'
        '<Identifier Source="ORCID">https://orcid.org/0000-0002-1825-0097</Identifier></Author>'
        '<Author ValidYN="N"><LastName>Wrong</LastName><ForeName>Name</ForeName></Author>'
        "<Author><LastName>Roe</LastName><Initials>R</Initials>"
        '<Identifier Source="ORCID">0000-0001-5109-3700</Identifier></Author>'
        "<Author><CollectiveName>The Synthetic Consortium</CollectiveName></Author>"
        "</AuthorList>"
        '<ArticleDate DateType="Electronic"><Year>2018</Year><Month>12</Month><Day>24</Day></ArticleDate>'
    )
    refs = (
        "<ReferenceList><Reference><Citation>A</Citation><ArticleIdList>"
        '<ArticleId IdType="pubmed">123</ArticleId></ArticleIdList></Reference>'
        "<Reference><Citation>B</Citation><ArticleIdList>"
        '<ArticleId IdType="doi">10.1/XYZ</ArticleId><ArticleId IdType="pubmed">456</ArticleId>'
        "</ArticleIdList></Reference></ReferenceList>"
    )
    [row] = pubmed.parse_page(article_set(synthetic_article(extra_article=extra, pubmed_data=refs)))
    assert row["title"] == "A synthetic title."
    assert row["doi"] == "10.5555/syn.1" and row["document_id"] == "doi:10.5555/syn.1"
    assert row["abstract"] == "BACKGROUND: Why.\nRESULTS: What we found."
    assert row["authors"] == [
        {"name": "Jane Doe", "orcid": "0000-0002-1825-0097", "id": None},
        {"name": "R Roe", "orcid": "0000-0001-5109-3700", "id": None},
        {"name": "The Synthetic Consortium", "orcid": None, "id": None},
    ]
    assert row["publication_date"] == date(2018, 12, 24)  # ArticleDate wins over PubDate
    assert row["updated_at"] == datetime(2020, 5, 6, tzinfo=timezone.utc)
    assert row["referenced_ids"] == ["pmid:123", "doi:10.1/xyz"]
    assert row["venue"] == "Synthetic Journal"


@pytest.mark.parametrize("pubdate, expected", [
    ("<Year>2019</Year><Month>Feb</Month><Day>30</Day>", date(2019, 2, 1)),  # impossible day
    ("<Year>2019</Year><Month>7</Month>", date(2019, 7, 1)),
    ("<Year>2019</Year><Season>Summer</Season>", date(2019, 6, 1)),
    ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", date(1998, 12, 1)),
    ("<MedlineDate>2000 Spring</MedlineDate>", date(2000, 3, 1)),
    ("<MedlineDate>1999-2000</MedlineDate>", date(1999, 1, 1)),
    ("<MedlineDate>2001 Nov 28-Dec 4</MedlineDate>", date(2001, 11, 28)),
])
def test_publication_date_forms(pubdate, expected):
    [row] = pubmed.parse_page(article_set(synthetic_article(pubdate=pubdate)))
    assert row["publication_date"] == expected


def test_updated_at_falls_back_to_completed_then_publication_date():
    completed = "<DateCompleted><Year>2002</Year><Month>03</Month><Day>04</Day></DateCompleted>"
    [row] = pubmed.parse_page(article_set(synthetic_article(dates=completed)))
    assert row["updated_at"] == datetime(2002, 3, 4, tzinfo=timezone.utc)
    [row] = pubmed.parse_page(article_set(synthetic_article(dates="", pubdate="<Year>2019</Year>")))
    assert row["updated_at"] == datetime(2019, 1, 1, tzinfo=timezone.utc)
    [rejected] = pubmed.parse_page(article_set(synthetic_article(dates="", pubdate="")))
    assert rejected.reason == "no DateRevised, DateCompleted or publication date"


def test_bad_records_are_rejected_and_the_rest_parse():
    body = article_set(
        synthetic_article(pmid=""),
        synthetic_article("900002"),
        synthetic_article("900003", title=None),
        '<PubmedBookArticle><BookDocument><PMID Version="1">900004</PMID></BookDocument></PubmedBookArticle>',
        "<DeleteCitation><PMID Version=\"1\">1</PMID></DeleteCitation>",
    )
    out = list(pubmed.parse_page(body))
    assert [type(r).__name__ for r in out] == ["Rejected", "dict", "Rejected", "Rejected"]
    assert out[0].reason == "missing PMID" and "<ArticleTitle>" in out[0].excerpt
    assert out[1]["source_id"] == "900002"
    assert (out[2].reason, out[2].source_id) == ("missing ArticleTitle", "900003")
    assert (out[3].reason, out[3].source_id) == ("PubmedBookArticle records are not supported", "900004")
    assert all(isinstance(r, Rejected) for r in (out[0], out[2], out[3]))


@pytest.mark.parametrize("name, message", [
    ("billion_laughs.xml", "hostile XML"),
    ("external_entity.xml", "hostile XML"),
])
def test_hostile_xml_is_a_page_error_quickly(name, message):
    start = time.perf_counter()
    with pytest.raises(PageError, match=message):
        list(pubmed.parse_page((FIXTURES / "synthetic" / name).read_bytes()))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("body, message", [
    (ESEARCH, "expected <PubmedArticleSet>, got <eSearchResult>"),
    (b"<eFetchResult><ERROR>Cannot retrieve history data</ERROR></eFetchResult>",
     "Cannot retrieve history data"),
    (EFETCH[:5000], "not well-formed"),
])
def test_unreadable_pages_raise_page_error(body, message):
    with pytest.raises(PageError, match=message):
        list(pubmed.parse_page(body))


# --- ESearch / EFetch paging ---------------------------------------------------------

def eutils(count: int, seen: list, clock: FakeClock | None = None, efetch_body: bytes = EFETCH):
    """ESearch answers the recording with Count changed; EFetch serves the recorded set."""
    search = re.sub(rb"<Count>\d+</Count>", b"<Count>%d</Count>" % count, ESEARCH, count=1)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((clock.now if clock else None, request))
        if request.url.path.endswith("/esearch.fcgi"):
            return httpx.Response(200, content=search)
        return httpx.Response(200, content=efetch_body)
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_history_paging_sequence():
    seen: list = []
    pages = list(pubmed.iter_pages(eutils(450, seen), settings(), query="cancer", since=SINCE,
                                   until=UNTIL, resume=None, limiter=limiter()))
    search = seen[0][1]
    assert search.url.path == "/entrez/eutils/esearch.fcgi"
    assert dict(search.url.params) == {
        "db": "pubmed", "tool": "knowledge-ingest", "email": "ops@example.org", "term": "cancer",
        "usehistory": "y", "datetype": "edat", "mindate": "2024/01/01", "maxdate": "2024/01/31",
        "retmax": "0"}
    fetches = [r for _, r in seen[1:]]
    assert all(r.url.path == "/entrez/eutils/efetch.fcgi" for r in fetches)
    assert [r.url.params["retstart"] for r in fetches] == ["0", "200", "400"]
    assert {(r.url.params["WebEnv"], r.url.params["query_key"], r.url.params["retmax"],
             r.url.params["retmode"]) for r in fetches} == {(WEBENV, "1", "200", "xml")}
    assert [p.resume for p in pages] == [{"retstart": 200}, {"retstart": 400}, None]
    assert [p.record_count for p in pages] == [2, 2, 2]
    assert all(p.body == EFETCH for p in pages)
    assert "email" not in pages[0].params and "ops@example.org" not in pages[0].url
    assert pages[0].params["WebEnv"] == WEBENV and pages[1].params["retstart"] == 200


def test_resume_searches_again_then_continues_at_retstart():
    seen: list = []
    pages = list(pubmed.iter_pages(eutils(450, seen), settings(), query="", since=SINCE,
                                   until=UNTIL, resume={"retstart": 400}, limiter=limiter(),
                                   datetype="pdat", batch_size=200))
    assert seen[0][1].url.params["term"] == "all[sb]" and seen[0][1].url.params["datetype"] == "pdat"
    assert [r.url.params["retstart"] for _, r in seen[1:]] == ["400"]
    assert len(pages) == 1 and pages[0].resume is None


def test_empty_search_with_error_list_yields_no_pages():
    seen: list = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=ESEARCH_EMPTY)
    client = httpx.Client(transport=httpx.MockTransport(handler))
    assert list(pubmed.iter_pages(client, settings(), query="abcXYZ", since=SINCE, until=UNTIL,
                                  resume=None, limiter=limiter())) == []
    assert len(seen) == 1


def test_esearch_error_is_a_source_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>")
    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(SourceError, match="ESearch failed: Invalid query") as err:
        list(pubmed.iter_pages(client, settings(), query="((", since=SINCE, until=UNTIL,
                               resume=None, limiter=limiter()))
    assert err.value.source == "pubmed" and err.value.url.startswith(pubmed.ESEARCH_URL)


def test_efetch_without_articles_before_count_is_a_source_error():
    seen: list = []
    client = eutils(450, seen, efetch_body=b"<PubmedArticleSet></PubmedArticleSet>")
    with pytest.raises(SourceError, match="no articles at retstart 0 of Count 450"):
        list(pubmed.iter_pages(client, settings(), query="x", since=SINCE, until=UNTIL,
                               resume=None, limiter=limiter()))


@pytest.mark.parametrize("key, rate", [(None, 3.0), ("ncbi-k", 10.0)])
def test_rate_follows_the_api_key(key, rate):
    clock, seen = FakeClock(), []
    s = settings(ncbi_api_key=key)
    assert pubmed.rate_per_s(s) == rate
    pages = list(pubmed.iter_pages(eutils(1000, seen, clock), s, query="x", since=SINCE,
                                   until=UNTIL, resume=None, limiter=limiter(rate, clock)))
    stamps = [t for t, _ in seen]
    assert len(stamps) == 6
    assert all(b - a >= 1 / rate - 1e-9 for a, b in zip(stamps, stamps[1:]))
    assert all(sum(t <= s < t + 1 - 1e-9 for s in stamps) <= rate for t in stamps)
    assert ("api_key" in seen[1][1].url.params) == bool(key)
    assert all("ncbi-k" not in p.url and "api_key" not in p.params for p in pages)


def test_rate_limit_error_body_does_not_leak_the_key():
    body = b'{"error":"API rate limit exceeded","api-key":"ncbi-k","count":"11","limit":"10"}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=body)
    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(SourceError, match="E-utilities error: API rate limit exceeded") as err:
        list(pubmed.iter_pages(client, settings(ncbi_api_key="ncbi-k"), query="x", since=SINCE,
                               until=UNTIL, resume=None, limiter=limiter()))
    assert "ncbi-k" not in str(err.value) and err.value.status == 400
