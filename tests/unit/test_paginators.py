"""Each paginator kind on its own, from declarations written here as YAML strings, with
their last-page conditions; a declared source run through landing and normalise; and
(hypothesis) no server answer sequence makes pagination loop forever."""

from __future__ import annotations

from datetime import date, datetime, timezone

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError

from tasks.lake import Lake
from tasks.literature.landing import land_window
from tasks.literature.normalise import normalise_window
from tasks.literature.sources.declared import DeclaredSource, load_declaration
from tasks.literature.sources.http import RateLimiter
from tasks.literature.watermark import StateStore, plan_window
from tasks.settings import Settings
from tests.recorded import serve

SINCE, UNTIL = date(2024, 1, 1), date(2024, 1, 8)
SETTINGS = Settings(http_max_retries=0)

BASE = """
name: demo_api
entity: items
domain: literature
description: a test API
docs: https://api.example.org/docs
schedule: "0 6 * * *"
base_url: https://api.example.org
endpoint: /items
window:
  params: {from: "{since}", to: "{until}"}
records: items
rate_limits: {per_second: 5, per_day: 1000}
mapping:
  source_id: {path: id}
  title: {path: name}
  updated_at: {path: [modified, created], transform: datetime}
  publication_date: {path: created, transform: date}
  topics: {path: tags.*.label}
  authors: {path: people, name: [first, last], orcid: orcid}
"""


def source(paginator: str, extra: str = "") -> DeclaredSource:
    return DeclaredSource(load_declaration(BASE + f"paginator: {paginator}\n" + extra))


def items(*ids: int) -> list[dict]:
    return [{"id": i, "name": f"item {i}", "modified": "2024-01-02T03:04:05Z"} for i in ids]


def walk(src: DeclaredSource, route, resume=None):
    seen: list[httpx.Request] = []
    with httpx.Client(transport=serve(route, seen)) as client:
        got = list(src.iter_pages(client, SETTINGS, query="", since=SINCE, until=UNTIL, resume=resume,
                                  limiter=RateLimiter(1e6, sleep=lambda s: None)))
    return got, seen


def body(**doc) -> bytes:
    return orjson.dumps(doc)


def test_window_params_use_the_last_day_of_the_half_open_window():
    _, seen = walk(source("{type: none}"), lambda r: (200, body(items=items(1))))
    assert (seen[0].url.params["from"], seen[0].url.params["to"]) == ("2024-01-01", "2024-01-07")


def test_cursor_stops_on_a_missing_token():
    chain = {"*": body(items=items(1), next="b"), "b": body(items=items(2))}
    got, seen = walk(source("{type: cursor, param: c, path: next, initial: '*'}"),
                     lambda r: (200, chain[r.url.params["c"]]))
    assert [p.resume for p in got] == [{"cursor": "b"}, None]


def test_cursor_stops_on_an_empty_page():
    got, seen = walk(source("{type: cursor, param: c, path: next, initial: '*'}"),
                     lambda r: (200, body(items=[], next="again")))
    assert got == [] and len(seen) == 1


def test_cursor_cycle_a_b_a_ends_without_refetching():
    chain = {"*": body(items=items(1), next="a"), "a": body(items=items(2), next="b"),
             "b": body(items=items(3), next="a")}
    got, seen = walk(source("{type: cursor, param: c, path: next, initial: '*'}"),
                     lambda r: (200, chain[r.url.params["c"]]))
    assert [r.url.params["c"] for r in seen] == ["*", "a", "b"] and len(got) == 3


def test_link_header_follows_rel_next_and_stops_without_it():
    def route(r):
        if r.url.params.get("p") == "2":
            return 200, body(items=items(2)), {"Link": '<https://api.example.org/items?p=1>; rel="prev"'}
        return 200, body(items=items(1)), {"Link": '</items?p=2>; rel="next", </items?p=9>; rel="last"'}
    got, seen = walk(source("{type: link_header}"), route)
    assert [p.record_count for p in got] == [1, 1]
    assert got[0].resume == {"url": "https://api.example.org/items?p=2"} and got[1].resume is None


def test_offset_stops_past_the_total():
    got, seen = walk(source("{type: offset, limit: 2, total_path: total}"),
                     lambda r: (200, body(items=items(1, 2) if r.url.params["offset"] != "4" else items(5),
                                          total=5)))
    assert [r.url.params["offset"] for r in seen] == ["0", "2", "4"]
    assert [p.resume for p in got] == [{"offset": 2}, {"offset": 4}, None]


def test_offset_stops_on_a_short_page_and_at_max_offset():
    got, _ = walk(source("{type: offset, limit: 2}"), lambda r: (200, body(items=items(1))))
    assert [p.resume for p in got] == [None]
    got, seen = walk(source("{type: offset, limit: 2, max_offset: 4}"), lambda r: (200, body(items=items(1, 2))))
    assert [r.url.params["offset"] for r in seen] == ["0", "2"]


def test_offset_from_one_counts_records_not_offsets():
    # NOAA CDO: the first record is offset=1, and the total counts records.
    got, seen = walk(source("{type: offset, base: 1, limit: 2, total_path: total}"),
                     lambda r: (200, body(items=items(1, 2) if r.url.params["offset"] != "5" else items(5),
                                          total=5)))
    assert [r.url.params["offset"] for r in seen] == ["1", "3", "5"]
    assert [p.resume for p in got] == [{"offset": 3}, {"offset": 5}, None]
    _, seen = walk(source("{type: offset, base: 1, limit: 2, max_offset: 4}"), lambda r: (200, body(items=items(1, 2))))
    assert [r.url.params["offset"] for r in seen] == ["1", "3"]


def test_a_page_without_its_record_list_is_empty_only_where_declared():
    got, seen = walk(source("{type: offset}", "records_optional: true\n"), lambda r: (200, b"{}"))
    assert got == [] and len(seen) == 1
    with pytest.raises(Exception, match="page has no record list at 'items'"):
        walk(source("{type: offset}"), lambda r: (200, b"{}"))


def test_query_in_the_endpoint_is_one_quoted_path_segment_and_required():
    text = BASE.replace("endpoint: /items", "endpoint: /stations/{query}/items") + "paginator: {type: none}\n"
    with pytest.raises(ValidationError, match="an endpoint with {query} needs query_required: true"):
        load_declaration(text)
    src = DeclaredSource(load_declaration(text + "query_required: true\n"))
    seen: list[httpx.Request] = []
    with httpx.Client(transport=serve(lambda r: (200, body(items=items(1))), seen)) as client:
        list(src.iter_pages(client, SETTINGS, query="a b/c", since=SINCE, until=UNTIL,
                            limiter=RateLimiter(1e6, sleep=lambda s: None)))
    assert seen[0].url.raw_path.startswith(b"/stations/a%20b%2Fc/items?")


def test_page_number_stops_after_the_last_page():
    got, seen = walk(source("{type: page, param: page, base: 1, size_param: size, size: 2, pages_path: meta.pages}"),
                     lambda r: (200, body(items=items(int(r.url.params["page"])), meta={"pages": 3})))
    assert [r.url.params["page"] for r in seen] == ["1", "2", "3"] and seen[0].url.params["size"] == "2"
    assert [p.resume for p in got] == [{"page": 2}, {"page": 3}, None]


def test_page_number_resumes_and_stops_on_an_empty_page():
    got, seen = walk(source("{type: page}"),
                     lambda r: (200, body(items=items(7) if r.url.params["page"] == "7" else [])), resume={"page": 7})
    assert [r.url.params["page"] for r in seen] == ["7", "8"] and [p.resume for p in got] == [{"page": 8}]


def test_query_key_auth_is_sent_and_redacted(monkeypatch):
    monkeypatch.setenv("DEMO_KEY", "k-123")
    src = source("{type: none}", "auth: {location: query, name: apikey, env: DEMO_KEY}\n")
    got, seen = walk(src, lambda r: (200, body(items=items(1))))
    assert seen[0].url.params["apikey"] == "k-123"
    assert "k-123" not in got[0].url and "apikey" not in got[0].params


def test_a_required_key_that_is_not_set_fails_clearly(monkeypatch):
    monkeypatch.delenv("DEMO_KEY", raising=False)
    src = source("{type: none}", "auth: {location: header, name: x-key, env: DEMO_KEY, required: true}\n")
    with pytest.raises(Exception, match="no API key: set DEMO_KEY"):
        walk(src, lambda r: (200, b"{}"))


def test_declarations_are_checked():
    with pytest.raises(ValidationError, match="paginator"):
        load_declaration(BASE + "paginator: {type: sideways}\n")
    with pytest.raises(ValidationError, match="unknown_key"):
        load_declaration(BASE + "paginator: {type: none}\nunknown_key: 1\n")


def test_records_without_required_fields_are_rejected_with_reasons():
    src = source("{type: none}")
    out = list(src.parse_page(body(items=[
        {"name": "no id", "modified": "2024-01-01"},
        {"id": 2, "modified": "2024-01-01"},
        {"id": 3, "name": "no dates"},
        {"id": 4, "name": "bad date", "modified": 20240101},
        "not an object",
        {"id": 5, "name": "ok", "created": "2024-01-03", "tags": [{"label": "a"}, {"label": "b"}],
         "people": [{"first": "Ada", "last": "Lovelace", "orcid": "https://orcid.org/0000-0001"}]},
    ])))
    reasons = [getattr(o, "reason", None) for o in out]
    assert reasons[0] == "missing source_id (id)"
    assert reasons[1] == "missing title (name)" and out[1].source_id == "2"
    assert reasons[2] == "missing updated_at (modified, created)"
    assert reasons[3].startswith("unreadable record: TypeError") and out[3].source_id == "4"
    assert reasons[4] == "record is not a JSON object"
    ok = out[5]
    assert ok["document_id"] == "demo_api:5" and ok["topics"] == ["a", "b"]
    assert ok["updated_at"] == datetime(2024, 1, 3, tzinfo=timezone.utc)
    assert ok["authors"] == [{"name": "Ada Lovelace", "orcid": "0000-0001", "id": None}]


def test_a_declared_source_from_a_yaml_string_lands_and_normalises(tmp_path):
    src = source("{type: cursor, param: c, path: next, initial: '*'}")
    chain = {"*": body(items=items(1, 2), next="x"), "x": body(items=items(3) + [{"id": 9}])}
    lake = Lake((tmp_path / "lake").as_uri())
    store = StateStore(lake)
    state = store.load(src.NAME, "")
    window = plan_window(state, SINCE, UNTIL, UNTIL)
    with httpx.Client(transport=serve(lambda r: (200, chain[r.url.params["c"]]))) as client:
        window = land_window(src, client, SETTINGS, store, state, window)
    assert [p["records"] for p in window.pages] == [2, 2]
    assert lake.keys("raw")[0].startswith("raw/demo_api/items/ingest_date=2024-01-01/")
    result = normalise_window(src, lake, window, ingested_at=datetime(2024, 1, 9, tzinfo=timezone.utc),
                              max_bytes=1 << 20)
    assert (result.records, result.quarantined) == (3, 1)
    (reject,) = [orjson.loads(line) for line in lake.get(result.quarantine_key).splitlines()]
    assert reject["reason"] == "missing title (name)" and reject["source_id"] == "9"


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=12),
       st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_cursor_pagination_always_ends(tokens, sizes):
    """Whatever tokens and page sizes a server answers, pagination ends within distinct-cursor + 1 requests."""
    answers = iter(list(zip(tokens, sizes)) + [(None, 0)] * 20)

    def route(r):
        token, size = next(answers)
        return 200, body(items=items(*range(size)), **({"next": token} if token else {}))

    got, seen = walk(source("{type: cursor, param: c, path: next, initial: '*'}"), route)
    assert len(seen) <= 4 and len(got) <= len(seen)
