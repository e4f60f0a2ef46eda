"""The offline replay runs the unchanged clients end to end over the recorded responses."""

from __future__ import annotations

from datetime import date, datetime, timezone

import httpx
import pytest

from tasks.documents import finalise
from tasks.literature.sources import (
    REGISTRY,
    SOURCES,
    arxiv,
    get_source,
    openalex,
    pubmed,
)
from tasks.literature.sources.base import SourceError
from tasks.literature.sources.http import RateLimiter, fetch, make_client
from tasks.literature.sources.replay import RECORDINGS, replay_transport
from tasks.settings import Settings
from tasks.tables import Rejected

SINCE, UNTIL = date(2024, 1, 1), date(2024, 2, 1)


def settings() -> Settings:
    return Settings(contact_email="ops@example.org", openalex_api_key="oa-key",
                    ncbi_api_key="ncbi-key", http_max_retries=0)


def no_wait() -> RateLimiter:
    clock = [0.0]
    return RateLimiter(1000, clock=lambda: clock[0],
                       sleep=lambda s: clock.__setitem__(0, clock[0] + s))


@pytest.fixture
def client():
    with make_client(settings(), transport=replay_transport(RECORDINGS)) as c:
        yield c


def run(client, name: str, query: str = "", resume=None):
    module = SOURCES[name]
    pages = list(module.iter_pages(client, settings(), query=query, since=SINCE, until=UNTIL,
                                   resume=resume, limiter=no_wait()))
    rows = [r for p in pages for r in module.parse_page(p.body)]
    return pages, rows


def test_the_coded_sources_are_registered_and_served_by_the_replay():
    assert {k: SOURCES[k] for k in ("openalex", "arxiv", "pubmed")} == {
        "openalex": openalex, "arxiv": arxiv, "pubmed": pubmed}
    for name, module in SOURCES.items():
        assert module.NAME == name and module.ENTITY
        assert callable(module.iter_pages) and callable(module.parse_page)
    assert get_source("arxiv") is arxiv
    # The known list is sorted; sources of other domains (chembl, …) come between these names.
    with pytest.raises(ValueError, match=r"unknown source 'nowhere'; known: arxiv, (\w+, )*clinicaltrials, crossref, "):
        get_source("nowhere")


def test_openalex_end_to_end(client):
    pages, rows = run(client, "openalex")
    assert len(pages) == 1 and pages[0].resume is None and pages[0].record_count == 1
    recorded = (RECORDINGS / "openalex" / "W2741809807.json").read_bytes().strip()
    assert recorded in pages[0].body  # the real record, verbatim inside the built envelope
    assert [r["document_id"] for r in rows] == ["doi:10.7717/peerj.4375"]
    assert "oa-key" not in pages[0].url and "api_key" not in pages[0].params


def test_arxiv_end_to_end(client):
    pages, rows = run(client, "arxiv", query="all:testing")
    assert [p.record_count for p in pages] == [10, 1]
    assert [p.resume for p in pages] == [{"start": 10}, None]
    assert len(rows) == 11 and rows[-1]["source_id"] == "cond-mat/0603029"


def test_arxiv_beyond_the_recordings_is_an_empty_feed(client):
    pages, _ = run(client, "arxiv", resume={"start": 11})
    assert pages == []


def test_arxiv_error_recording_is_replayed(client):
    with pytest.raises(SourceError, match="incorrect id format for abc") as err:
        fetch(client, "arxiv", arxiv.BASE_URL, {"id_list": "abc"}, limiter=no_wait(),
              settings=settings(), describe_error=arxiv.describe_error)
    assert err.value.status == 400


def test_pubmed_end_to_end(client):
    pages, rows = run(client, "pubmed", query="cancer")
    assert len(pages) == 1 and pages[0].record_count == 2 and pages[0].resume is None
    assert pages[0].body == (RECORDINGS / "pubmed" / "pubmed2.xml").read_bytes()
    assert [r["source_id"] for r in rows] == ["11748933", "11700088"]
    assert "ncbi-key" not in pages[0].url


def test_pubmed_empty_search_is_replayed(client):
    pages, _ = run(client, "pubmed", query="abcXYZ")
    assert pages == []


def test_every_replayed_row_finalises(client):
    for name in (e.name for e in REGISTRY if e.replayed):
        _, rows = run(client, name)
        assert rows and not any(isinstance(r, Rejected) for r in rows)
        for row in rows:
            finalise(row, run_id="demo", ingested_at=datetime.now(timezone.utc), raw_key="raw/x")


def test_unknown_requests_get_404(client):
    response = client.get("https://api.openalex.org/authors")
    assert response.status_code == 404 and "no recording" in response.text
    with pytest.raises(SourceError) as err:
        fetch(client, "pubmed", pubmed.EFETCH_URL, {"db": "pubmed", "retstart": 1},
              limiter=no_wait(), settings=settings())
    assert err.value.status == 400  # unknown WebEnv
    assert client.get("https://example.org/").status_code == 404
    assert isinstance(replay_transport(RECORDINGS), httpx.MockTransport)
