"""arXiv: parser on the real recorded feeds, start paging, 3 s rate, error feed, hostile XML."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import orjson
import pytest

from tasks.documents import CONTENT_NAMES, finalise
from tasks.literature.sources import arxiv
from tasks.literature.sources.base import PageError, SourceError
from tasks.literature.sources.http import RateLimiter
from tasks.literature.sources.replay import RECORDINGS
from tasks.settings import Settings
from tasks.tables import Rejected
from tests.fakes import FakeClock, source_settings


def settings() -> Settings:
    return source_settings(contact_email=None)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEL_MAESTRO = (RECORDINGS / "arxiv" / "del_maestro_checkerboard.xml").read_bytes()
TESTING = orjson.loads((RECORDINGS / "arxiv" / "q_testing_s10_m10_34e56e15aaac.json").read_bytes())
TESTING_FEED = TESTING["body"].encode()
ERROR = orjson.loads((RECORDINGS / "arxiv" / "id_abc_s0_m100_b79c8dcf6bc3.json").read_bytes())
ERROR_FEED = ERROR["body"].encode()
BOMB = (FIXTURES / "synthetic" / "billion_laughs.xml").read_bytes()
SINCE, UNTIL = date(2024, 1, 1), date(2024, 2, 1)


def limiter(clock: FakeClock | None = None) -> RateLimiter:
    clock = clock or FakeClock()
    return RateLimiter(arxiv.RATE_PER_S, clock=clock.clock, sleep=clock.sleep)


def with_total(feed: bytes, total: int) -> bytes:
    """A recorded feed with its totalResults changed (to drive paging); entries untouched."""
    return re.sub(rb"(totalResults[^>]*>)\d+", rb"\g<1>%d" % total, feed, count=1)


# --- parser -----------------------------------------------------------------------

def test_parse_real_feed_with_doi_and_journal_ref():
    [row] = list(arxiv.parse_page(DEL_MAESTRO))
    assert list(row) == CONTENT_NAMES
    assert row["source"] == "arxiv" and row["source_id"] == "cond-mat/0603029"
    assert row["doi"] == "10.1103/physrevb.74.024520"
    assert row["document_id"] == "doi:10.1103/physrevb.74.024520"
    assert row["title"] == ("From stripe to checkerboard order on the square lattice in the "
                            "presence of quenched disorder")
    assert row["abstract"].startswith("We discuss the effects of quenched disorder on a model of "
                                      "charge density wave (CDW) ordering")
    assert "\n" not in row["abstract"] and "  " not in row["abstract"]
    assert [a["name"] for a in row["authors"]] == ["Adrian Del Maestro", "Bernd Rosenow", "Subir Sachdev"]
    assert row["authors"][0] == {"name": "Adrian Del Maestro", "orcid": None, "id": None}
    assert row["publication_date"] == date(2006, 3, 2)
    assert row["updated_at"] == datetime(2006, 3, 2, 2, 22, 45, tzinfo=timezone.utc)
    assert row["topics"] == ["cond-mat.str-el", "cond-mat.supr-con"]
    assert row["venue"] == "Phys. Rev. B 74, 024520 (2006)"
    assert row["url"] == "http://arxiv.org/abs/cond-mat/0603029v1"
    assert row["license"] is None and row["cited_by_count"] is None
    finalise(row, run_id="r", ingested_at=datetime.now(timezone.utc), raw_key="raw/k")


def test_parse_real_2026_page():
    rows = list(arxiv.parse_page(TESTING_FEED))
    assert len(rows) == 10 == TESTING_FEED.count(b"<entry>")
    first = rows[0]
    assert first["source_id"] == "2403.16981" and first["document_id"] == "arxiv:2403.16981"
    assert first["doi"] is None and first["venue"] == "arXiv"
    assert first["title"] == "The Sample Complexity of Simple Binary Hypothesis Testing"
    assert first["abstract"].startswith("The sample complexity of simple binary hypothesis testing is")
    assert first["publication_date"] == date(2024, 3, 25)
    assert first["updated_at"] == datetime(2025, 5, 24, 5, 50, 33, tzinfo=timezone.utc)
    assert first["topics"] == ["math.ST", "cs.IT", "stat.ML"]
    assert [a["name"] for a in first["authors"]] == ["Ankit Pensia", "Varun Jog", "Po-Ling Loh"]
    assert first["url"] == "https://arxiv.org/abs/2403.16981v2"
    with_doi = [r for r in rows if r["doi"]]
    assert [r["document_id"] for r in with_doi] == ["doi:10.1145/3679006.3685071"]


@pytest.mark.parametrize("entry_id, expected", [
    ("http://arxiv.org/abs/2101.00001v12", "2101.00001"),
    ("https://arxiv.org/abs/2101.00001", "2101.00001"),
    ("http://arxiv.org/abs/solv-int/9901001v1", "solv-int/9901001"),
    ("http://arxiv.org/abs/solv-int/9901001", "solv-int/9901001"),
    ("not an arxiv id", ""),
])
def test_arxiv_id_drops_the_version(entry_id, expected):
    assert arxiv.arxiv_id(entry_id) == expected


def test_entry_missing_id_is_rejected_while_the_others_parse():
    feed = TESTING_FEED.replace(b"<id>http://arxiv.org/abs/2004.03322v1</id>", b"", 1)
    feed = feed.replace(b"<title>Morphy: A Datamorphic Software Test Automation Tool</title>",
                        b"<title>  </title>", 1)
    out = list(arxiv.parse_page(feed))
    rejected = [r for r in out if isinstance(r, Rejected)]
    assert len(out) == 10 and len(rejected) == 2
    assert rejected[0].reason == "missing id" and "Variable pool testing" in rejected[0].excerpt
    assert (rejected[1].reason, rejected[1].source_id) == ("missing title", "1912.09881")


def test_entry_with_bad_date_is_rejected():
    feed = DEL_MAESTRO.replace(b"<published>2006-03-02T02:22:45Z", b"<published>March 2006", 1)
    [rejected] = list(arxiv.parse_page(feed))
    assert rejected.reason.startswith("unreadable entry: ValueError")
    assert rejected.source_id == "cond-mat/0603029"


@pytest.mark.parametrize("body, message", [
    (b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>", "not well-formed"),
    (b"<html><body>Service unavailable</body></html>", "expected an Atom <feed>"),
    (ERROR_FEED, "error feed: arXiv API error: incorrect id format for abc"),
])
def test_unreadable_pages_raise_page_error(body, message):
    with pytest.raises(PageError, match=message):
        list(arxiv.parse_page(body))


def test_billion_laughs_is_a_page_error_quickly():
    start = time.perf_counter()
    with pytest.raises(PageError, match="hostile XML"):
        list(arxiv.parse_page(BOMB))
    assert time.perf_counter() - start < 1.0


# --- requests and paging ----------------------------------------------------------

def test_search_query_covers_the_half_open_window():
    assert arxiv.search_query("cat:cs.LG", SINCE, UNTIL) == (
        "(cat:cs.LG) AND submittedDate:[202401010000 TO 202401312359]")
    assert arxiv.search_query("  ", SINCE, UNTIL) == "submittedDate:[202401010000 TO 202401312359]"


def serve(answers, seen, clock: FakeClock | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((clock.now if clock else None, request))
        return answers(request)
    return httpx.Client(transport=httpx.MockTransport(handler))


def paged(request: httpx.Request) -> httpx.Response:
    """Total 25: two recorded 10-entry pages, then the 1-entry feed, then nothing."""
    start = int(request.url.params["start"])
    if start in (0, 10):
        return httpx.Response(200, content=with_total(TESTING_FEED, 25))
    if start == 20:
        return httpx.Response(200, content=with_total(DEL_MAESTRO, 25))
    return httpx.Response(200, content=with_total(ERROR_FEED.split(b"<entry>")[0] + b"</feed>", 25))


def test_start_sequence_until_an_empty_page():
    seen: list = []
    pages = list(arxiv.iter_pages(serve(paged, seen), settings(), query="all:testing",
                                  since=SINCE, until=UNTIL, resume=None, limiter=limiter()))
    assert [int(r.url.params["start"]) for _, r in seen] == [0, 10, 20, 21]
    assert [p.record_count for p in pages] == [10, 10, 1]
    assert [p.resume for p in pages] == [{"start": 10}, {"start": 20}, {"start": 21}]
    params = seen[0][1].url.params
    assert params["search_query"] == "(all:testing) AND submittedDate:[202401010000 TO 202401312359]"
    assert (params["sortBy"], params["sortOrder"], params["max_results"]) == (
        "submittedDate", "ascending", "100")
    assert pages[0].url.startswith(arxiv.BASE_URL) and pages[0].params["start"] == 0


def test_paging_stops_at_total_results():
    seen: list = []
    answers = lambda r: httpx.Response(200, content=with_total(TESTING_FEED, 20))  # noqa: E731
    pages = list(arxiv.iter_pages(serve(answers, seen), settings(), query="", since=SINCE,
                                  until=UNTIL, resume=None, limiter=limiter(), page_size=10))
    assert [int(r.url.params["start"]) for _, r in seen] == [0, 10]
    assert pages[-1].resume is None


def test_resume_continues_at_start():
    seen: list = []
    pages = list(arxiv.iter_pages(serve(paged, seen), settings(), query="", since=SINCE,
                                  until=UNTIL, resume={"start": 20}, limiter=limiter()))
    assert [int(r.url.params["start"]) for _, r in seen] == [20, 21]
    assert [p.record_count for p in pages] == [1]


def test_one_request_every_three_seconds():
    clock, seen = FakeClock(), []
    list(arxiv.iter_pages(serve(paged, seen, clock), settings(), query="", since=SINCE,
                          until=UNTIL, resume=None, limiter=limiter(clock)))
    stamps = [t for t, _ in seen]
    assert len(stamps) == 4
    assert all(b - a >= 3.0 - 1e-9 for a, b in zip(stamps, stamps[1:]))
    assert clock.sleeps == pytest.approx([3.0, 3.0, 3.0])


@pytest.mark.parametrize("status", [400, 200])
def test_error_feed_raises_a_clear_source_error(status):
    seen: list = []
    answers = lambda r: httpx.Response(status, content=ERROR_FEED)  # noqa: E731
    with pytest.raises(SourceError) as err:
        list(arxiv.iter_pages(serve(answers, seen), settings(), query="id:abc", since=SINCE,
                              until=UNTIL, resume=None, limiter=limiter()))
    error = err.value
    assert (error.source, error.status) == ("arxiv", ERROR["status_code"] if status == 400 else 200)
    assert error.detail == ("arXiv API error: incorrect id format for abc "
                            "(https://arxiv.org/api/errors#incorrect_id_format_for_abc)")
    assert error.url.startswith("https://export.arxiv.org/api/query?search_query=")
    assert len(seen) == 1  # a 400 is not retried


def test_hostile_response_is_a_source_error():
    seen: list = []
    answers = lambda r: httpx.Response(200, content=BOMB)  # noqa: E731
    with pytest.raises(SourceError, match="hostile XML"):
        list(arxiv.iter_pages(serve(answers, seen), settings(), query="", since=SINCE,
                              until=UNTIL, resume=None, limiter=limiter()))
