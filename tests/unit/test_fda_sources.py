"""openFDA drug adverse events and drug labels, declared (tasks/literature/sources/declared/openfda_*.yaml),
on their real recorded records (tests/fixtures/SOURCES.md, section "fda").

Neither recording is a multi-page HTTP capture. ``event.postannotation.json`` is ONE FAERS
``results[]`` item without the response envelope: every events page here is built in the test
as ``{"meta": {"results": {skip, limit, total}}, "results": [<records>]}`` around it (openFDA's
documented envelope, the one ``label-jantoven.json`` shows). ``label-jantoven.json`` is a real
one-page response; the pages after it are built from its envelope and say so.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import httpx
import orjson
import pytest

from tasks.literature.sources import SOURCES
from tasks.literature.sources.base import SourceError
from tasks.literature.sources.declared import DeclaredSource
from tasks.literature.sources.http import RateLimiter
from tasks.settings import Settings
from tasks.tables import DRUG_ADVERSE_EVENTS, DRUG_LABELS, Rejected
from tests.recorded import recorded, serve

SETTINGS = Settings(http_max_retries=0)
SINCE, UNTIL = date(2005, 1, 27), date(2005, 1, 28)

EVENT = orjson.loads(recorded("openfda_events/event.postannotation.json"))
LABEL_PAGE = recorded("openfda_labels/label-jantoven.json")
LABEL_DOC = orjson.loads(LABEL_PAGE)
NOT_FOUND = b'{"error": {"code": "NOT_FOUND", "message": "No matches found!"}}'


def envelope(records: list, *, skip: int = 0, limit: int = 1000, total: int | None = None) -> bytes:
    """Built here: openFDA's page envelope (meta.results.{skip, limit, total}) around records."""
    return orjson.dumps({"meta": {"results": {"skip": skip, "limit": limit,
                                              "total": len(records) if total is None else total}},
                         "results": records})


def event(safetyreportid: str, **changes) -> dict:
    """The recorded FAERS record under another id (for pages of several distinct reports)."""
    return {**EVENT, "safetyreportid": safetyreportid, **changes}


def with_limit(name: str, limit: int) -> DeclaredSource:
    """The real declaration with a smaller page size, so a walk over several pages stays small."""
    d = SOURCES[name].declaration
    return DeclaredSource(d.model_copy(update={"paginator": d.paginator.model_copy(update={"limit": limit})}))


def walk(source, route, seen=None, **kw):
    with httpx.Client(transport=serve(route, seen)) as client:
        return list(source.iter_pages(client, SETTINGS, query=kw.pop("query", ""), since=kw.pop("since", SINCE),
                                      until=kw.pop("until", UNTIL), limiter=RateLimiter(1000.0), **kw))


def parse(name: str, body: bytes) -> list:
    return list(SOURCES[name].parse_page(body))


def finalise(table, row):
    return table.finalise(row, run_id="r", ingested_at=datetime(2026, 1, 1, tzinfo=timezone.utc), raw_key="k")


# --- adverse events: fields ---------------------------------------------------------------


def test_event_record_fields_match_the_recording():
    [row] = parse("openfda_events", envelope([EVENT]))
    assert row["event_id"] == "openfda_events:4562564-7"
    assert (row["source"], row["source_id"]) == ("openfda_events", "4562564-7")
    assert row["received_date"] == date(2005, 1, 27)          # receivedate "20050127"
    assert row["serious"] is True                              # serious "1"
    assert row["patient_sex"] == "female"                      # patientsex "2"
    assert row["country"] is None                              # no occurcountry / reportercountry in 2005
    assert row["updated_at"] == datetime(2005, 7, 27, tzinfo=timezone.utc)   # transmissiondate
    assert len(row["drugs"]) == 23
    assert row["drugs"][:4] == ["VIOXX", "VIOXX", "OS-CAL + D", "MAGNESIUM SULFATE"]
    assert row["drugs"][-1] == "PERCOCET"
    assert len(row["reactions"]) == 86
    assert row["reactions"][0] == "ACTIVATED PARTIAL THROMBOPLASTIN TIME PROLONGED"
    assert row["reactions"][-1] == "WEIGHT INCREASED"
    done = finalise(DRUG_ADVERSE_EVENTS, row)
    assert len(done["record_hash"]) == 64


def test_event_codes_and_country_fallback():
    rows = parse("openfda_events", envelope([
        event("A-1", serious="2", patient={**EVENT["patient"], "patientsex": "1"}, occurcountry="US"),
        event("A-2", patient={**EVENT["patient"], "patientsex": "0"},
              primarysource={"qualification": "1", "reportercountry": "JP"}),
        event("A-3", patient={k: v for k, v in EVENT["patient"].items() if k != "patientsex"}),
    ]))
    assert [(r["serious"], r["patient_sex"], r["country"]) for r in rows] == [
        (False, "male", "US"), (True, "unknown", "JP"), (True, None, None)]


def test_bad_event_records_are_quarantined_with_reasons():
    no_id = {k: v for k, v in EVENT.items() if k != "safetyreportid"}
    rows = parse("openfda_events", envelope([
        no_id,
        event("B-1", serious="3"),
        event("B-2", receivedate="2005-01-27"),
        event("B-3", patient={**EVENT["patient"], "patientsex": "9"}),
        "not a record",
    ]))
    assert all(isinstance(r, Rejected) for r in rows)
    assert rows[0].reason == "missing source_id (safetyreportid)" and "4562564" in rows[0].excerpt
    assert rows[1].source_id == "B-1" and "unknown code '3'" in rows[1].reason
    assert rows[2].source_id == "B-2" and "does not match format '%Y%m%d'" in rows[2].reason
    assert rows[3].source_id == "B-3" and "unknown code '9'" in rows[3].reason
    assert rows[4].reason == "record is not a JSON object"


def test_event_numbers_as_strings_and_integer_codes_are_accepted():
    # openFDA sends every value as a string; an integer code or id is read the same way.
    [row] = parse("openfda_events", envelope([event("C-1", serious=2, patient={**EVENT["patient"], "patientsex": 1})]))
    assert (row["serious"], row["patient_sex"]) == (False, "male")
    [row] = parse("openfda_events", envelope([{**EVENT, "safetyreportid": 4562564}]))
    assert row["source_id"] == "4562564" and row["event_id"] == "openfda_events:4562564"


# --- adverse events: paging ---------------------------------------------------------------


def test_event_window_key_and_first_request(monkeypatch):
    monkeypatch.setenv("OPENFDA_API_KEY", "s3cret")
    seen: list[httpx.Request] = []
    got = walk(SOURCES["openfda_events"], lambda r: (200, envelope([EVENT])), seen, query="VIOXX")
    [request] = seen
    assert str(request.url).startswith("https://api.fda.gov/drug/event.json?")
    assert request.url.params["search"] == "(VIOXX) AND receivedate:[20050127 TO 20050127]"
    assert "receivedate%3A%5B20050127+TO+20050127%5D" in str(request.url)   # spaces sent as "+"
    assert (request.url.params["skip"], request.url.params["limit"]) == ("0", "1000")
    assert request.url.params["api_key"] == "s3cret"
    [page] = got
    assert page.record_count == 1 and page.resume is None     # total 1: the last page
    assert "s3cret" not in page.url and "s3cret" not in str(page.params)


def test_event_without_key_sends_no_api_key(monkeypatch):
    monkeypatch.delenv("OPENFDA_API_KEY", raising=False)
    seen: list[httpx.Request] = []
    walk(SOURCES["openfda_events"], lambda r: (200, envelope([EVENT])), seen)
    assert "api_key" not in seen[0].url.params


def test_event_skip_is_followed_to_the_total():
    # Built here: 3 reports in pages of 2 (the declaration with limit 2); the page at skip 2 is short
    # and the total (3) is reached there, so no request is made past it.
    source = with_limit("openfda_events", 2)
    reports = [event("D-1"), event("D-2"), event("D-3")]
    by_skip = {"0": envelope(reports[:2], skip=0, limit=2, total=3),
               "2": envelope(reports[2:], skip=2, limit=2, total=3)}
    seen: list[httpx.Request] = []
    got = walk(source, lambda r: (200, by_skip[r.url.params["skip"]]), seen)
    assert [r.url.params["skip"] for r in seen] == ["0", "2"]
    assert [p.record_count for p in got] == [2, 1]
    assert [p.resume for p in got] == [{"offset": 2}, None]
    ids = [row["source_id"] for p in got for row in source.parse_page(p.body)]
    assert ids == ["D-1", "D-2", "D-3"]


def test_event_walk_stops_at_an_exact_total_without_asking_again():
    source = with_limit("openfda_events", 1)
    pages = {"0": envelope([event("E-1")], skip=0, limit=1, total=2),
             "1": envelope([event("E-2")], skip=1, limit=1, total=2)}
    seen: list[httpx.Request] = []
    got = walk(source, lambda r: (200, pages[r.url.params["skip"]]), seen)
    assert [r.url.params["skip"] for r in seen] == ["0", "1"] and got[-1].resume is None


def test_event_resumes_after_the_landed_page():
    source = with_limit("openfda_events", 1)
    seen: list[httpx.Request] = []
    got = walk(source, lambda r: (200, envelope([event("F-2")], skip=1, limit=1, total=2)), seen,
               resume={"offset": 1})
    assert [r.url.params["skip"] for r in seen] == ["1"] and got[0].resume is None


def test_empty_event_window_is_no_data_not_an_error():
    # openFDA answers a search without matches with 404 NOT_FOUND (body as the API sends it).
    seen: list[httpx.Request] = []
    assert walk(SOURCES["openfda_events"], lambda r: (404, NOT_FOUND), seen) == []
    assert len(seen) == 1


def test_other_event_errors_still_fail():
    bad = b'{"error": {"code": "BAD_REQUEST", "message": "Skip value must 25000 or less."}}'
    with pytest.raises(SourceError, match="HTTP 400.*BAD_REQUEST"):
        walk(SOURCES["openfda_events"], lambda r: (400, bad))
    with pytest.raises(SourceError, match="HTTP 404"):   # a 404 without NOT_FOUND is a wrong URL
        walk(SOURCES["openfda_events"], lambda r: (404, b"<html>Not Found</html>"))


def test_event_window_beyond_skip_25000_fails_before_anything_lands():
    p = SOURCES["openfda_events"].declaration.paginator
    assert (p.offset_param, p.limit_param, p.limit, p.max_offset) == ("skip", "limit", 1000, 26000)
    seen: list[httpx.Request] = []
    with pytest.raises(SourceError, match="holds 26001 records but offset paging reaches only 26000"):
        walk(SOURCES["openfda_events"], lambda r: (200, envelope([EVENT], total=26001)), seen)
    assert len(seen) == 1


def test_event_window_of_exactly_26000_pages_to_skip_25000():
    # Built here: 26 full pages of 1000 copies of the recorded report (ids made distinct).
    full = [event(f"G-{i}") for i in range(1000)]
    seen: list[httpx.Request] = []
    got = walk(SOURCES["openfda_events"],
               lambda r: (200, envelope(full, skip=int(r.url.params["skip"]), total=26000)), seen)
    assert [int(r.url.params["skip"]) for r in seen] == list(range(0, 26000, 1000))
    assert seen[-1].url.params["skip"] == "25000" and got[-1].resume is None
    assert sum(p.record_count for p in got) == 26000


# --- labels -------------------------------------------------------------------------------


def test_label_fields_match_the_recording():
    [row] = parse("openfda_labels", LABEL_PAGE)
    # The fixture author trimmed the label's own id/set_id/version/effective_time away; the
    # openfda annotation's spl_id / spl_set_id (the same ids) are what this recording holds.
    assert row["label_id"] == "openfda_labels:396ff415-9bf2-8f45-e063-6394a90af63e"
    assert row["source_id"] == "396ff415-9bf2-8f45-e063-6394a90af63e"
    assert row["set_id"] == "19a69a72-ac5d-45d5-a94d-a5aaecbe4730"
    assert row["brand_names"] == ["Jantoven"]
    assert row["generic_names"] == ["WARFARIN SODIUM"]
    assert row["manufacturer"] == "Upsher-Smith Laboratories, LLC"
    assert row["indications"].startswith("1 INDICATIONS AND USAGE JANTOVEN ® is indicated for: Prophylaxis")
    # No `warnings` section (a PLR label): the boxed warning is taken.
    assert row["warnings"].startswith("WARNING: BLEEDING RISK Warfarin Sodium can cause major or fatal bleeding")
    assert row["version"] is None and row["effective_date"] is None and row["updated_at"] is None
    assert len(finalise(DRUG_LABELS, row)["record_hash"]) == 64


def test_label_with_its_own_id_version_and_effective_time():
    # Built here: the recorded label with the top-level fields the real API also sends.
    label = {**LABEL_DOC["results"][0], "id": "label-doc-1", "set_id": "set-1", "version": "12",
             "effective_time": "20240115", "warnings": ["WARNINGS Bleeding."]}
    [row] = parse("openfda_labels", orjson.dumps({**LABEL_DOC, "results": [label]}))
    assert (row["source_id"], row["set_id"], row["version"]) == ("label-doc-1", "set-1", "12")
    assert row["effective_date"] == date(2024, 1, 15)
    assert row["updated_at"] == datetime(2024, 1, 15, tzinfo=timezone.utc)
    assert row["warnings"] == "WARNINGS Bleeding."
    [row] = parse("openfda_labels", orjson.dumps({**LABEL_DOC, "results": [{**label, "version": 12}]}))
    assert row["version"] == "12"   # a number is kept as the label's version string


def test_bad_labels_are_quarantined_with_reasons():
    unannotated = {k: v for k, v in LABEL_DOC["results"][0].items() if k != "openfda"}
    bad_date = {**LABEL_DOC["results"][0], "effective_time": "2024-01-15"}
    rows = parse("openfda_labels", orjson.dumps({**LABEL_DOC, "results": [unannotated, bad_date]}))
    assert isinstance(rows[0], Rejected) and rows[0].reason == "missing source_id (id, openfda.spl_id.0)"
    assert isinstance(rows[1], Rejected) and rows[1].source_id == "396ff415-9bf2-8f45-e063-6394a90af63e"
    assert "does not match format '%Y%m%d'" in rows[1].reason


def test_label_window_and_paging_to_the_last_page():
    source = with_limit("openfda_labels", 1)
    label = LABEL_DOC["results"][0]
    second = {**label, "openfda": {**label["openfda"], "spl_id": ["second-version"]}}
    # skip 0 is the recorded page with its total raised to 2; skip 1 is built from its envelope.
    pages = {"0": orjson.dumps({**LABEL_DOC, "meta": {**LABEL_DOC["meta"], "results": {"skip": 0, "limit": 1, "total": 2}}}),
             "1": orjson.dumps({**LABEL_DOC, "meta": {**LABEL_DOC["meta"], "results": {"skip": 1, "limit": 1, "total": 2}},
                                "results": [second]})}
    seen: list[httpx.Request] = []
    got = walk(source, lambda r: (200, pages[r.url.params["skip"]]), seen,
               since=date(2024, 1, 1), until=date(2024, 2, 1))
    assert seen[0].url.params["search"] == "effective_time:[20240101 TO 20240131]"
    assert str(seen[0].url).startswith("https://api.fda.gov/drug/label.json?")
    assert [r.url.params["skip"] for r in seen] == ["0", "1"]
    assert [p.resume for p in got] == [{"offset": 1}, None]
    ids = [row["source_id"] for p in got for row in source.parse_page(p.body)]
    assert ids == ["396ff415-9bf2-8f45-e063-6394a90af63e", "second-version"]


def test_recorded_label_page_alone_is_the_last_page():
    seen: list[httpx.Request] = []
    got = walk(SOURCES["openfda_labels"], lambda r: (200, LABEL_PAGE), seen)
    assert len(seen) == 1 and got[0].record_count == 1 and got[0].resume is None


def test_empty_label_window_is_no_data():
    assert walk(SOURCES["openfda_labels"], lambda r: (404, NOT_FOUND)) == []
