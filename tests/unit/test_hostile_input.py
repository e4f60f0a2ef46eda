"""Hostile input through landing + normalise with the real source modules and a real (local) lake.

Each case ends in a clear error or a quarantined record with its reason; the
rest of the window's data is intact and nothing half-written becomes visible.
"""

import hashlib
import time
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import orjson
import pytest

from tasks.lake import Lake, gzip_bytes
from tasks.literature.landing import land_window
from tasks.literature.normalise import normalise_window
from tasks.literature.sources import arxiv, openalex
from tasks.literature.sources.base import SourceError
from tasks.literature.sources.replay import RECORDINGS
from tasks.literature.watermark import StateStore, plan_window
from tasks.settings import Settings
from tests.openalex_pages import chain_bodies, cursor_chain, page_body, synthetic_works

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SINCE, UNTIL = date(2024, 1, 1), date(2024, 1, 2)
NOW = datetime(2024, 1, 2, tzinfo=timezone.utc)


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake((tmp_path / "lake").as_uri())


def land(lake: Lake, source, transport: httpx.MockTransport, settings: Settings | None = None):
    settings = settings or Settings(http_max_retries=0)
    store = StateStore(lake)
    state = store.load(source.NAME, "")
    window = plan_window(state, SINCE, UNTIL, UNTIL)
    with httpx.Client(transport=transport) as client:
        return land_window(source, client, settings, store, state, window), store


def normalise(lake: Lake, source, window):
    return normalise_window(source, lake, window, ingested_at=NOW, max_bytes=1 << 20)


def quarantine(lake: Lake, result) -> list[dict]:
    return [orjson.loads(line) for line in lake.get(result.quarantine_key).splitlines()]


def test_malformed_json_page_fails_clearly_and_keeps_the_landed_pages(lake):
    bodies = chain_bodies(3, 5)
    bodies[1] = b'{"meta": {"next_cursor": "c2"}, "results": [{"id": '  # cut mid-record
    with pytest.raises(SourceError, match="openalex: .*not valid JSON"):
        land(lake, openalex, cursor_chain(bodies))

    state = StateStore(lake).load("openalex", "")
    assert len(state.in_progress.pages) == 1 and state.watermark is None
    assert [k for k in lake.keys("raw") if k.endswith(".gz")] == [state.in_progress.pages[0]["key"]]
    assert lake.keys("processed") == []


def test_truncated_gzip_in_the_lake_quarantines_that_page_only(lake):
    window, _ = land(lake, openalex, cursor_chain(chain_bodies(3, 5)))
    bad = window.pages[1]["key"]
    lake.put(bad, lake.get(bad)[:40])

    result = normalise(lake, openalex, window)

    assert (result.records, result.quarantined) == (10, 1)
    (entry,) = quarantine(lake, result)
    assert entry["raw_key"] == bad and "truncated gzip" in entry["reason"]


def test_xml_bomb_is_refused_quickly_and_nothing_lands(lake):
    bomb = (FIXTURES / "synthetic" / "billion_laughs.xml").read_bytes()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=bomb))
    started = time.monotonic()
    with pytest.raises(SourceError, match="arxiv"):
        land(lake, arxiv, transport)
    assert time.monotonic() - started < 5
    assert [k for k in lake.keys("raw") if k.endswith(".gz")] == []


def test_xml_bomb_already_in_the_lake_is_quarantined(lake):
    feed = (RECORDINGS / "arxiv" / "del_maestro_checkerboard.xml").read_bytes()
    window, _ = land(lake, arxiv, httpx.MockTransport(lambda request: httpx.Response(200, content=feed)))
    bomb = (FIXTURES / "synthetic" / "billion_laughs.xml").read_bytes()
    key = window.pages[0]["key"].replace("-00000", "-00001")
    lake.put(key, gzip_bytes(bomb))
    window.pages.append({**window.pages[0], "key": key, "sha256": hashlib.sha256(bomb).hexdigest()})

    result = normalise(lake, arxiv, window)

    assert (result.records, result.quarantined) == (1, 1)
    assert quarantine(lake, result)[0]["raw_key"] == key


def test_oversized_response_is_refused_before_landing(lake):
    huge = page_body(synthetic_works(1), None) + b" " * 200_000
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=huge))
    with pytest.raises(SourceError, match="openalex"):
        land(lake, openalex, transport, Settings(http_max_retries=0, max_response_bytes=100_000))
    assert [k for k in lake.keys("raw") if k.endswith(".gz")] == []


def test_record_missing_its_id_is_quarantined_with_reason_and_raw_key(lake):
    works = synthetic_works(3)
    del works[1]["id"]
    body = page_body(works, None)
    window, _ = land(lake, openalex, httpx.MockTransport(lambda request: httpx.Response(200, content=body)))

    result = normalise(lake, openalex, window)

    assert (result.records, result.quarantined) == (2, 1)
    (entry,) = quarantine(lake, result)
    assert entry["reason"] == "missing id" and entry["raw_key"] == window.pages[0]["key"]
    assert "Synthetic work 1" in entry["excerpt"]
