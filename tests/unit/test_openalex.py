"""OpenAlex: parser on the real recorded work, cursor paging, rate, errors, hostile pages.

The recording is a single-work response (``GET /works/W2741809807``); list pages here
are constructed around it (``meta`` envelope built in the test, record bytes verbatim).
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timezone

import httpx
import orjson
import pytest

from tasks.documents import CONTENT_NAMES, finalise
from tasks.literature.sources import openalex
from tasks.literature.sources.base import PageError, SourceError
from tasks.literature.sources.http import RateLimiter
from tasks.literature.sources.replay import RECORDINGS
from tasks.settings import Settings
from tasks.tables import Rejected
from tests.fakes import FakeClock, source_settings


def settings(**overrides) -> Settings:
    return source_settings(**{"http_max_retries": 2, **overrides})


RAW = (RECORDINGS / "openalex" / "W2741809807.json").read_bytes()
WORK = orjson.loads(RAW)
SINCE, UNTIL = date(2024, 1, 1), date(2024, 2, 1)


def list_page(works: list, next_cursor: str | None = None) -> bytes:
    """A list response constructed around recorded works (envelope is synthetic)."""
    meta = {"count": len(works), "db_response_time_ms": 1, "page": None, "per_page": 100,
            "next_cursor": next_cursor, "groups_count": None}
    return orjson.dumps({"meta": meta, "results": works, "group_by": []})


def variant(work_id: str, **changes) -> dict:
    work = copy.deepcopy(WORK)
    work["id"] = f"https://openalex.org/{work_id}"
    work.update(changes)
    return work


# --- parser -----------------------------------------------------------------------

def test_parse_real_work_fields():
    [row] = list(openalex.parse_page(b'{"meta":{},"results":[' + RAW + b"]}"))
    assert list(row) == CONTENT_NAMES
    assert row["source"] == "openalex" and row["source_id"] == "W2741809807"
    assert row["doi"] == "10.7717/peerj.4375"
    assert row["document_id"] == "doi:10.7717/peerj.4375"
    assert row["title"] == WORK["display_name"]
    assert row["title"].startswith("The state of OA: a large-scale analysis")
    assert row["publication_date"] == date(2018, 2, 13)
    assert row["updated_at"] == datetime(2025, 6, 11, 0, 3, 37, 532706, tzinfo=timezone.utc)
    assert len(row["authors"]) == len(WORK["authorships"]) == 9
    assert row["authors"][0] == {"name": "Heather Piwowar", "orcid": "0000-0003-1613-5981",
                                 "id": "A5048491430"}
    assert row["venue"] == "PeerJ"
    assert row["topics"] == [t["display_name"] for t in WORK["topics"]]
    assert row["topics"][0] == "scientometrics and bibliometrics research"
    assert row["cited_by_count"] == WORK["cited_by_count"] == 962
    assert len(row["referenced_ids"]) == len(WORK["referenced_works"]) == 45
    assert row["referenced_ids"][0] == "openalex:W1560783210"
    assert row["url"] == "https://doi.org/10.7717/peerj.4375"
    assert row["license"] == "cc-by"
    assert row["abstract"].startswith(
        "Despite growing interest in Open Access (OA) to scholarly literature, there is an unmet need")
    words = sum(len(p) for p in WORK["abstract_inverted_index"].values())
    assert len(row["abstract"].split(" ")) == words == 258
    finalise(row, run_id="r1", ingested_at=datetime.now(timezone.utc), raw_key="raw/k")


def test_work_without_doi_or_topics_uses_fallbacks():
    work = variant("W1", doi=None, topics=[], updated_date=None, created_date=None,
                   primary_location={"source": None, "license": None},
                   abstract_inverted_index=None)
    [row] = list(openalex.parse_page(list_page([work])))
    assert row["document_id"] == "openalex:W1" and row["doi"] is None
    assert row["url"] == "https://openalex.org/W1"
    assert row["topics"][0] == WORK["concepts"][0]["display_name"]
    assert row["updated_at"] == datetime(2018, 2, 13, tzinfo=timezone.utc)  # publication date
    assert row["venue"] is None and row["license"] == "cc-by"  # best_oa_location
    assert row["abstract"] is None


def test_abstract_with_gaps_keeps_word_order():
    assert openalex.rebuild_abstract({"b": [5], "a": [0], "c": [9]}) == "a b c"
    assert openalex.rebuild_abstract({"x": [1], "y": [0, 2]}) == "y x y"


def test_bad_records_are_rejected_and_the_rest_parse():
    missing_id = variant("W0")
    del missing_id["id"]
    no_title = variant("W2", display_name=None, title="")
    bad_date = variant("W3", publication_date="13/02/2018")
    page = list_page([missing_id, variant("W1"), no_title, bad_date, "not an object"])
    out = list(openalex.parse_page(page))
    assert [type(r).__name__ for r in out] == ["Rejected", "dict", "Rejected", "Rejected", "Rejected"]
    assert out[0].reason == "missing id" and out[0].source_id is None
    assert '"doi":"https://doi.org/10.7717/peerj.4375"' in out[0].excerpt
    assert len(out[0].excerpt) <= 2000
    assert out[1]["source_id"] == "W1"
    assert (out[2].reason, out[2].source_id) == ("missing title", "W2")
    assert out[3].reason.startswith("unreadable work: ValueError") and out[3].source_id == "W3"
    assert out[4].reason == "record is not a JSON object"


@pytest.mark.parametrize("body, message", [
    (b'{"meta": {}, "results": [', "not valid JSON"),
    (RAW, "no 'results' array"),  # the single-work response has no list envelope
    (b"[]", "no 'results' array"),
])
def test_unreadable_pages_raise_page_error(body, message):
    with pytest.raises(PageError, match=message):
        list(openalex.parse_page(body))


# --- paging -----------------------------------------------------------------------

def serve(pages: dict[str, bytes], seen: list[httpx.Request], clock: FakeClock | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if clock is not None:
            request.extensions["at"] = clock.now
        return httpx.Response(200, content=pages[request.url.params["cursor"]])
    return httpx.Client(transport=httpx.MockTransport(handler))


def limiter(clock: FakeClock | None = None) -> RateLimiter:
    clock = clock or FakeClock()
    return RateLimiter(openalex.RATE_PER_S, clock=clock.clock, sleep=clock.sleep)


PAGES = {
    "*": list_page([variant("W1"), variant("W2")], "c2"),
    "c2": list_page([variant("W3")], "c3"),
    "c3": list_page([variant("W4")], None),
}


def test_cursor_followed_to_the_end():
    seen: list[httpx.Request] = []
    pages = list(openalex.iter_pages(serve(PAGES, seen), settings(), query="", since=SINCE,
                                     until=UNTIL, resume=None, limiter=limiter()))
    assert [r.url.params["cursor"] for r in seen] == ["*", "c2", "c3"]
    assert [p.record_count for p in pages] == [2, 1, 1]
    assert [p.resume for p in pages] == [{"cursor": "c2"}, {"cursor": "c3"}, None]
    assert [p.body for p in pages] == [PAGES["*"], PAGES["c2"], PAGES["c3"]]
    params = seen[0].url.params
    assert params["filter"] == "from_publication_date:2024-01-01,to_publication_date:2024-01-31"
    assert params["per_page"] == "100" and params["mailto"] == "ops@example.org"
    assert "search" not in params and "api_key" not in params
    assert "mailto" not in pages[0].params and "mailto" not in pages[0].url
    assert pages[0].params["cursor"] == "*" and pages[1].params["cursor"] == "c2"


def test_resume_continues_at_the_landed_cursor():
    seen: list[httpx.Request] = []
    pages = list(openalex.iter_pages(serve(PAGES, seen), settings(), query="", since=SINCE,
                                     until=UNTIL, resume={"cursor": "c3"}, limiter=limiter()))
    assert [r.url.params["cursor"] for r in seen] == ["c3"]
    assert len(pages) == 1 and pages[0].resume is None


def test_empty_results_end_paging_and_are_not_yielded():
    seen: list[httpx.Request] = []
    pages = {"*": list_page([variant("W1")], "c2"), "c2": list_page([], "c3")}
    out = list(openalex.iter_pages(serve(pages, seen), settings(), query="", since=SINCE,
                                   until=UNTIL, resume=None, limiter=limiter()))
    assert len(out) == 1 and len(seen) == 2


def test_api_key_switches_to_updated_date_and_stays_out_of_pages():
    seen: list[httpx.Request] = []
    s = settings(openalex_api_key="k-123")
    pages = list(openalex.iter_pages(serve(PAGES, seen), s, query="open access", since=SINCE,
                                     until=UNTIL, resume=None, limiter=limiter(), per_page=50))
    params = seen[0].url.params
    assert params["filter"] == "from_updated_date:2024-01-01,to_updated_date:2024-01-31"
    assert params["api_key"] == "k-123" and params["search"] == "open access"
    assert params["per_page"] == "50"
    assert all("k-123" not in p.url and "api_key" not in p.params for p in pages)


def test_requests_hold_ten_per_second():
    clock, seen = FakeClock(), []
    pages = {str(i): list_page([variant(f"W{i}")], str(i + 1)) for i in range(25)}
    pages["*"], pages["25"] = pages.pop("0"), list_page([], None)
    client = serve(pages, seen, clock)
    list(openalex.iter_pages(client, settings(), query="", since=SINCE, until=UNTIL,
                             resume=None, limiter=limiter(clock)))
    stamps = [r.extensions["at"] for r in seen]
    assert len(stamps) == 26
    assert all(b - a >= 0.1 - 1e-9 for a, b in zip(stamps, stamps[1:]))
    assert all(sum(t <= s < t + 1 - 1e-9 for s in stamps) <= 10 for t in stamps)  # float slack


def test_forbidden_names_source_status_and_message_without_key():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error": "Forbidden", "message": "Invalid API key"})
    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(SourceError) as err:
        list(openalex.iter_pages(client, settings(openalex_api_key="k-123"), query="",
                                 since=SINCE, until=UNTIL, resume=None, limiter=limiter()))
    error = err.value
    assert (error.source, error.status) == ("openalex", 403)
    assert error.detail == "Forbidden: Invalid API key"
    assert error.url.startswith("https://api.openalex.org/works?") and "k-123" not in str(error)


def test_malformed_page_from_the_api_is_a_source_error():
    seen: list[httpx.Request] = []
    with pytest.raises(SourceError, match="not valid JSON"):
        list(openalex.iter_pages(serve({"*": b"{oops"}, seen), settings(), query="",
                                 since=SINCE, until=UNTIL, resume=None, limiter=limiter()))


def test_window_and_page_size_checks():
    seen: list[httpx.Request] = []
    client = serve(PAGES, seen)
    assert list(openalex.iter_pages(client, settings(), query="", since=SINCE, until=SINCE,
                                    resume=None, limiter=limiter())) == []
    assert seen == []
    with pytest.raises(ValueError, match="per_page"):
        list(openalex.iter_pages(client, settings(), query="", since=SINCE, until=UNTIL,
                                 resume=None, limiter=limiter(), per_page=200))


def test_rejected_is_the_documents_type():
    out = list(openalex.parse_page(list_page([{"title": "no id"}])))
    assert isinstance(out[0], Rejected)
