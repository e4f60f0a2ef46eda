"""Declared sources on their real recorded responses (tests/fixtures/SOURCES.md): field-level
parsing, and the declared paginator followed to the end through httpx.MockTransport.

Where a recording holds fewer pages than the paginator walks, the following page is built
here from the recorded envelope and labelled as such in the test."""

from __future__ import annotations

from datetime import date, datetime, timezone

import httpx
import orjson
import pytest

from tasks.literature.sources import SOURCES
from tasks.literature.sources.base import SourceError
from tasks.literature.sources.http import RateLimiter
from tasks.settings import Settings
from tests.recorded import cassette, recorded, serve

SINCE, UNTIL = date(2024, 1, 1), date(2024, 2, 1)
SETTINGS = Settings(http_max_retries=0)


def pages(name, transport, **kw):
    limiter = RateLimiter(1e6, sleep=lambda s: None)
    with httpx.Client(transport=transport) as client:
        return list(SOURCES[name].iter_pages(client, SETTINGS, query=kw.pop("query", ""), since=SINCE,
                                             until=UNTIL, limiter=limiter, **kw))


def rows(name, body):
    return list(SOURCES[name].parse_page(body))


# --- Crossref: message.next-cursor --------------------------------------------------------

CROSSREF_URI, CROSSREF_PAGE = cassette("crossref/crossref_works_cursor.habanero.yaml")[0]


def test_crossref_parses_the_recorded_cursor_page():
    parsed = rows("crossref", CROSSREF_PAGE)
    assert len(parsed) == 20 and all(isinstance(r, dict) for r in parsed)
    first = parsed[0]
    assert first["document_id"] == "doi:10.1007/springerreference_66110"
    assert first["source_id"] == "10.1007/springerreference_66110"
    assert first["title"] == "Web Widget"
    assert first["venue"] == "SpringerReference"
    assert first["updated_at"] == datetime(2024, 9, 6, 2, 45, 48, tzinfo=timezone.utc)  # indexed.date-time
    assert first["publication_date"] is None  # issued is [[null]]: no day is invented
    assert first["cited_by_count"] == 0 and first["url"] == "http://dx.doi.org/10.1007/springerreference_66110"


def test_crossref_follows_next_cursor_to_an_empty_page():
    doc = orjson.loads(CROSSREF_PAGE)
    token = doc["message"]["next-cursor"]
    # Built here: Crossref's last page is the recorded envelope with no items (it still sends a cursor).
    last = orjson.dumps({**doc, "message": {**doc["message"], "items": [], "next-cursor": "END"}})
    seen: list[httpx.Request] = []
    got = pages("crossref", serve(lambda r: (200, CROSSREF_PAGE if r.url.params["cursor"] == "*" else last), seen),
                query="widget")
    assert [p.record_count for p in got] == [20]
    assert got[0].body == CROSSREF_PAGE and got[0].resume == {"cursor": token}
    assert [r.url.params["cursor"] for r in seen] == ["*", token]
    assert seen[0].url.params["query"] == "widget"
    assert seen[0].url.params["filter"] == "from-index-date:2024-01-01,until-index-date:2024-01-31"


def test_crossref_resumes_from_the_landed_cursor():
    seen: list[httpx.Request] = []
    empty = orjson.dumps({"message": {"items": []}})
    assert pages("crossref", serve(lambda r: (200, empty), seen), resume={"cursor": "abc"}) == []
    assert [r.url.params["cursor"] for r in seen] == ["abc"]


def test_crossref_mailto_is_sent_but_never_in_the_page_metadata():
    seen: list[httpx.Request] = []
    s = Settings(http_max_retries=0, contact_email="ops@example.org")
    with httpx.Client(transport=serve(lambda r: (200, CROSSREF_PAGE if r.url.params["cursor"] == "*"
                                                 else b'{"message":{"items":[]}}'), seen)) as c:
        (page,) = SOURCES["crossref"].iter_pages(c, s, query="", since=SINCE, until=UNTIL,
                                                 limiter=RateLimiter(1e6, sleep=lambda x: None))
    assert seen[0].url.params["mailto"] == "ops@example.org"
    assert "ops@example.org" not in page.url and "mailto" not in page.params


# --- Europe PMC: nextCursorMark --------------------------------------------------------------

EPMC_CORE = recorded("europepmc/europepmc_search_core.pyeuropepmc.json")


def test_europepmc_parses_the_recorded_core_page():
    parsed = rows("europepmc", EPMC_CORE)
    assert len(parsed) == 25 and all(isinstance(r, dict) for r in parsed)
    first = parsed[0]
    assert first["document_id"] == "doi:10.1016/s0140-6736(24)02600-x" and first["source_id"] == "39709209"
    assert first["title"].startswith("Abscopal response in a patient with fibrolamellar")
    assert first["venue"] == "Lancet (London, England)"
    assert first["publication_date"] == date(2025, 12, 1)
    assert first["updated_at"] == datetime(2024, 12, 21, tzinfo=timezone.utc)  # dateOfRevision
    assert [a["name"] for a in first["authors"]] == ["Schoenfeld JD", "Haas-Kogan DA", "O'Neill AF"]
    assert first["url"] == "https://doi.org/10.1016/S0140-6736(24)02600-X"
    assert parsed[1]["title"] == "Department of Error." and parsed[1]["authors"] == []
    orcid = next(r for r in parsed if r["source_id"] == "40468710")
    assert {"name": orcid["authors"][0]["name"], "orcid": "0000-0002-6307-9196", "id": None} in orcid["authors"]


def test_europepmc_stops_when_the_cursor_mark_repeats():
    doc = orjson.loads(EPMC_CORE)
    mark = doc["nextCursorMark"]
    # Built here: Europe PMC's last page answers the same cursorMark it was asked for.
    last = orjson.dumps({**doc, "resultList": {"result": doc["resultList"]["result"][:1]}})
    seen: list[httpx.Request] = []
    got = pages("europepmc", serve(lambda r: (200, EPMC_CORE if r.url.params["cursorMark"] == "*" else last), seen))
    assert [p.record_count for p in got] == [25, 1]
    assert got[0].resume == {"cursor": mark} and got[1].resume is None
    assert [r.url.params["cursorMark"] for r in seen] == ["*", mark]
    assert seen[0].url.params["query"] == "FIRST_IDATE:[2024-01-01 TO 2024-01-31]"


def test_europepmc_puts_the_query_before_the_window():
    seen: list[httpx.Request] = []
    pages("europepmc", serve(lambda r: (200, b'{"resultList":{"result":[]}}'), seen), query="cancer")
    assert seen[0].url.params["query"] == "(cancer) AND FIRST_IDATE:[2024-01-01 TO 2024-01-31]"


# --- Semantic Scholar: offset / next / total -------------------------------------------------

S2 = cassette("semanticscholar/semanticscholar_paper_search_2pages.yaml")


def test_semanticscholar_recorded_page_without_dates_is_quarantined_with_reasons():
    """The recording asked for ``fields=title`` only: no record has a date, so each is
    quarantined, named by its paperId, none is dropped."""
    parsed = rows("semanticscholar", S2[0][1])
    assert len(parsed) == 100
    assert parsed[0].source_id == "7cbc2a7843411a1768ab762930707af0a3c33a19"
    assert {r.reason for r in parsed} == {"missing updated_at (publicationDate)"}


def test_semanticscholar_record_with_the_declared_fields():
    """The first recorded paper (paperId, title) with the other declared fields added here."""
    paper = orjson.loads(S2[0][1])["data"][0] | {
        "publicationDate": "2022-01-28", "externalIds": {"DOI": "10.48550/arXiv.2201.11990"},
        "authors": [{"authorId": "1", "name": "Shaden Smith"}], "citationCount": 500}
    (row,) = rows("semanticscholar", orjson.dumps({"data": [paper]}))
    assert row["document_id"] == "doi:10.48550/arxiv.2201.11990"
    assert row["title"].startswith("Using DeepSpeed and Megatron to Train Megatron-Turing NLG 530B")
    assert row["publication_date"] == date(2022, 1, 28)
    assert row["authors"] == [{"name": "Shaden Smith", "orcid": None, "id": "1"}]


def test_semanticscholar_walks_the_recorded_offsets_and_sends_the_key_in_a_header(monkeypatch):
    monkeypatch.setenv("S2_API_KEY", "s3cret")
    by_offset = {"0": S2[0][1], "100": S2[1][1]}
    # Built here: the page at offset 200 answers no data, which ends the walk.
    seen: list[httpx.Request] = []
    got = pages("semanticscholar", serve(
        lambda r: (200, by_offset.get(r.url.params["offset"], b'{"total": 70498, "offset": 200, "data": []}')),
        seen), query="turing")
    assert [p.record_count for p in got] == [100, 100]
    assert [p.resume for p in got] == [{"offset": 100}, {"offset": 200}]
    assert [r.url.params["offset"] for r in seen] == ["0", "100", "200"]
    assert all(r.headers["x-api-key"] == "s3cret" for r in seen)
    assert all("s3cret" not in p.url and "s3cret" not in str(p.params) for p in got)


def test_semanticscholar_without_a_query_is_refused():
    with pytest.raises(ValueError, match="semanticscholar needs a query"):
        pages("semanticscholar", serve(lambda r: (500, b"")))


# --- DataCite: links.next ----------------------------------------------------------------------

DC_URI, DC_PAGE = cassette("datacite/datacite_dois_page.rdatacite.yml")[0]


def test_datacite_parses_the_recorded_page():
    parsed = rows("datacite", DC_PAGE)
    assert len(parsed) == 5 and all(isinstance(r, dict) for r in parsed)
    first = parsed[0]
    assert first["document_id"] == "doi:10.5281/zenodo.3596961"
    assert first["title"] == "ALSETLab/sysml.powersystems.framework: Release Linked to Zenodo"
    assert first["updated_at"] == datetime(2020, 1, 2, 22, 21, 56, tzinfo=timezone.utc)
    assert first["authors"] == [{"name": "Gómez, Francis", "orcid": None, "id": None}]
    assert first["abstract"] == "SysML project about design of modeling and simulation tools for power systems"
    assert first["url"] == "https://zenodo.org/record/3596961"
    assert first["license"] == "info:eu-repo/semantics/openAccess"


def test_datacite_follows_links_next_until_there_is_none():
    doc = orjson.loads(DC_PAGE)
    nxt = doc["links"]["next"]
    # Built here: page 2 is one recorded record with links that have no "next".
    page2 = orjson.dumps({"data": doc["data"][:1], "meta": doc["meta"], "links": {"self": nxt}})
    seen: list[httpx.Request] = []
    got = pages("datacite", serve(lambda r: (200, page2 if "page%5Bnumber%5D=2" in str(r.url) else DC_PAGE), seen))
    assert [p.record_count for p in got] == [5, 1]
    assert got[0].resume == {"url": nxt} and got[1].resume is None
    assert str(seen[1].url) == nxt


def test_datacite_refuses_a_next_link_to_another_host():
    doc = orjson.loads(DC_PAGE)
    evil = orjson.dumps({**doc, "links": {"next": "https://evil.example/dois?page=2"}})
    with pytest.raises(SourceError, match="another host: evil.example"):
        pages("datacite", serve(lambda r: (200, evil)))


def test_europepmc_lite_page_gives_the_same_documents_without_abstracts_or_authors():
    """``resultType=lite`` (the other recording) lacks authorList and abstractText; the
    declaration asks for ``core``, and a lite page still normalises."""
    lite = rows("europepmc", recorded("europepmc/europepmc_search_page1.pyeuropepmc.json"))
    core = rows("europepmc", EPMC_CORE)
    assert [r["document_id"] for r in lite] == [r["document_id"] for r in core]
    assert all(r["authors"] == [] and r["abstract"] is None for r in lite)
