"""NOAA CDO v2 (/data, /stations) and NWS station observations, on their real recorded
responses (tests/fixtures/SOURCES.md, section "climate"): field-level parsing, quarantine
with reasons, the token, and each paginator followed to its last page through
httpx.MockTransport.

The NOAA cassettes hold one page per request (read with tests.recorded.cassette); the NWS
recording is one page without ``pagination``. Pages and records built here from the
recordings are labelled where built.
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
from tasks.tables import WEATHER_OBSERVATIONS, WEATHER_STATIONS, Rejected
from tests.recorded import cassette, recorded, serve

SETTINGS = Settings(http_max_retries=0)
SINCE, UNTIL = date(2013, 9, 3), date(2013, 10, 1)
RUN = {"run_id": "r1", "ingested_at": datetime(2024, 2, 1, tzinfo=timezone.utc), "raw_key": "raw/x"}

(_, NORMALS), (_, GHCND_PRCP) = cassette("noaa/ncdc.yml")
(_, COOP_STATION), (_, AKRON_STATION), (_, CITRUS_STATIONS) = cassette("noaa/ncdc_stations.yml")
NWS_PAGE = recorded("nws/nws_station_observations.pynws.json")
STATION = "GHCND:USC00200230"


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("NOAA_CDO_TOKEN", "cdo-s3cret")


def walk(source, route, seen=None, **kw):
    with httpx.Client(transport=serve(route, seen)) as client:
        return list(source.iter_pages(client, SETTINGS, query=kw.pop("query", ""), since=kw.pop("since", SINCE),
                                      until=kw.pop("until", UNTIL), limiter=RateLimiter(1000.0), **kw))


def parse(name: str, body: bytes) -> list:
    return list(SOURCES[name].parse_page(body))


def with_limit(name: str, limit: int) -> DeclaredSource:
    """The real declaration with a smaller page size, so a walk over several pages stays small."""
    d = SOURCES[name].declaration
    return DeclaredSource(d.model_copy(update={"paginator": d.paginator.model_copy(update={"limit": limit})}))


def cdo_page(records: list, *, offset: int, limit: int, count: int) -> bytes:
    """Built here: CDO's envelope (metadata.resultset.{offset, count, limit}) around records."""
    return orjson.dumps({"metadata": {"resultset": {"offset": offset, "count": count, "limit": limit}},
                         "results": records})


# --- noaa: fields -------------------------------------------------------------------------------


def test_noaa_parses_the_recorded_ghcnd_page():
    out = parse("noaa", GHCND_PRCP)
    assert len(out) == 28 and not any(isinstance(o, Rejected) for o in out)
    assert out[0] == {
        "observation_id": "noaa:GHCND:USC00200230:2013-09-03T00:00:00:PRCP", "source": "noaa",
        "source_id": "GHCND:USC00200230:2013-09-03T00:00:00:PRCP", "station": STATION,
        "observed_at": datetime(2013, 9, 3, tzinfo=timezone.utc), "element": "PRCP", "value": 0.0,
    }
    assert [o["value"] for o in out if o["value"]] == [8.0, 74.0, 36.0, 8.0, 13.0, 48.0, 99.0, 41.0, 5.0]
    final = WEATHER_OBSERVATIONS.finalise(dict(out[0]), **RUN)
    assert final["unit"] is None and final["updated_at"] is None  # CDO sends no unit with a value
    assert len(final["record_hash"]) == 64


def test_noaa_parses_the_recorded_normals_page_one_row_per_station():
    out = parse("noaa", NORMALS)
    assert len({o["observation_id"] for o in out}) == 25
    assert {o["element"] for o in out} == {"DLY-TMAX-NORMAL"}
    assert (out[0]["station"], out[0]["value"]) == ("GHCND:AQW00061705", 869.0)


def test_noaa_bad_records_are_quarantined_with_reasons():
    [rec, *_] = orjson.loads(GHCND_PRCP)["results"]
    # Built here: variants of the recorded observation.
    out = parse("noaa", cdo_page([{k: v for k, v in rec.items() if k != "station"},
                                  {**rec, "value": "lots"},
                                  {**rec, "value": True},
                                  {**rec, "value": "7"}], offset=1, limit=1000, count=4))
    assert isinstance(out[0], Rejected) and out[0].reason == "missing source_id (station, date, datatype)"
    assert isinstance(out[1], Rejected) and out[1].reason.startswith("unreadable record: ValueError")
    assert out[1].source_id == "GHCND:USC00200230:2013-09-03T00:00:00:PRCP"
    assert isinstance(out[2], Rejected) and out[2].reason == "unreadable record: TypeError: expected a number, got bool"
    assert out[3]["value"] == 7.0  # a number as a string


# --- noaa: request, token, 1-based offset paging ------------------------------------------------------


def test_noaa_first_request_carries_station_window_and_token_in_a_header():
    seen: list[httpx.Request] = []
    [page] = walk(SOURCES["noaa"], lambda r: (200, GHCND_PRCP), seen, query=STATION)
    [request] = seen
    assert str(request.url).startswith("https://www.ncei.noaa.gov/cdo-web/api/v2/data?")
    assert dict(request.url.params) == {
        "datasetid": "GHCND", "units": "metric", "includemetadata": "true", "stationid": STATION,
        "startdate": "2013-09-03", "enddate": "2013-09-30",  # inclusive: the window's last day
        "offset": "1", "limit": "1000"}
    assert request.headers["token"] == "cdo-s3cret"
    assert page.record_count == 28 and page.resume is None  # count 28 reached on the first page
    assert "cdo-s3cret" not in page.url and "cdo-s3cret" not in str(page.params)


def test_noaa_offset_counts_from_one_and_a_window_answered_empty_ends_the_walk():
    # The recorded normals page (offset 1, limit 25, count 75010) under a declaration of limit 25;
    # built here: CDO's answer past the data, `{}` (no metadata, no results).
    seen: list[httpx.Request] = []
    got = walk(with_limit("noaa", 25), lambda r: (200, NORMALS if r.url.params["offset"] == "1" else b"{}"),
               seen, query="GHCND:AQW00061705")
    assert [r.url.params["offset"] for r in seen] == ["1", "26"]
    assert [p.record_count for p in got] == [25] and got[0].resume == {"offset": 26}


def test_noaa_resumes_at_the_landed_offset():
    seen: list[httpx.Request] = []
    walk(SOURCES["noaa"], lambda r: (200, GHCND_PRCP), seen, query=STATION, resume={"offset": 1001})
    assert [r.url.params["offset"] for r in seen] == ["1001"]


def test_noaa_needs_a_station_and_a_token(monkeypatch):
    with pytest.raises(ValueError, match="noaa needs a query"):
        walk(SOURCES["noaa"], lambda r: (200, GHCND_PRCP))
    monkeypatch.delenv("NOAA_CDO_TOKEN")
    with pytest.raises(SourceError, match="no API key: set NOAA_CDO_TOKEN"):
        walk(SOURCES["noaa"], lambda r: (200, GHCND_PRCP), query=STATION)


# --- noaa_stations ---------------------------------------------------------------------------------


def test_noaa_stations_parses_the_recorded_station_list():
    out = parse("noaa_stations", CITRUS_STATIONS)
    assert len(out) == 14 and out[0] == {
        "station_id": "noaa_stations:GHCND:US1FLCT0002", "source": "noaa_stations",
        "source_id": "GHCND:US1FLCT0002", "name": "INVERNESS 1.6 WSW, FL US", "latitude": 28.8303,
        "longitude": -82.3688, "elevation_m": 36.9, "first_date": date(2007, 9, 28),
        "last_date": date(2012, 10, 24),
    }
    assert out[-1]["source_id"] == "GHCND:USC00084289" and out[-1]["first_date"] == date(1899, 2, 1)
    assert WEATHER_STATIONS.finalise(dict(out[0]), **RUN)["updated_at"] is None  # no modification date


def test_noaa_stations_single_station_answers_read_as_list_records():
    # Built here: the recorded /stations/{id} answers (one object each) in a list envelope.
    records = [orjson.loads(COOP_STATION), orjson.loads(AKRON_STATION)]
    coop, akron = parse("noaa_stations", cdo_page(records, offset=1, limit=1000, count=2))
    assert (coop["source_id"], coop["elevation_m"], coop["last_date"]) == ("COOP:010008", 139.0, date(2014, 1, 1))
    assert (akron["name"], akron["latitude"], akron["longitude"]) == ("AKRON CANTON AIRPORT, OH US", 40.9181,
                                                                      -81.4435)


def test_noaa_stations_bad_records_are_quarantined_with_reasons():
    rec = orjson.loads(COOP_STATION)
    # Built here: variants of the recorded station.
    out = parse("noaa_stations", cdo_page([{**rec, "id": None}, {**rec, "latitude": "north"},
                                           {**rec, "maxdate": "soon"}], offset=1, limit=1000, count=3))
    assert isinstance(out[0], Rejected) and out[0].reason == "missing source_id (id)"
    assert isinstance(out[1], Rejected) and out[1].source_id == "COOP:010008"
    assert out[1].reason.startswith("unreadable record: ValueError")
    assert isinstance(out[2], Rejected) and "Invalid isoformat string: 'soon'" in out[2].reason


def test_noaa_stations_pages_by_offset_from_one_to_the_count_and_refreshes_every_window():
    # Built here: the recorded list of 14 stations split in two pages of 7 (its count stays 14).
    records = orjson.loads(CITRUS_STATIONS)["results"]
    by_offset = {"1": cdo_page(records[:7], offset=1, limit=7, count=14),
                 "8": cdo_page(records[7:], offset=8, limit=7, count=14)}
    source = with_limit("noaa_stations", 7)
    urls = []
    for since, until in [(date(2024, 1, 1), date(2024, 1, 2)), (date(2025, 6, 1), date(2025, 7, 1))]:
        seen: list[httpx.Request] = []
        got = walk(source, lambda r: (200, by_offset[r.url.params["offset"]]), seen, query="FIPS:12017",
                   since=since, until=until)
        assert [p.record_count for p in got] == [7, 7] and [p.resume for p in got] == [{"offset": 8}, None]
        urls.append([str(r.url) for r in seen])
    assert urls[0] == urls[1] == [
        f"https://www.ncei.noaa.gov/cdo-web/api/v2/stations?datasetid=GHCND&locationid=FIPS%3A12017"
        f"&offset={o}&limit=7" for o in (1, 8)]


# --- nws ------------------------------------------------------------------------------------------


def test_nws_gives_one_row_per_measured_element_and_quarantines_an_observation_without_any():
    first, *measured = parse("nws", NWS_PAGE)
    # The recording's first observation has every element null.
    assert isinstance(first, Rejected) and first.source_id == "KFLL:2019-06-27T10:53:00+00:00"
    assert first.reason == "observation has no measured value (every element is null)"
    assert {r["element"]: (r["value"], r["unit"]) for r in measured} == {
        "temperature": (10.0, "degC"), "dewpoint": (10.0, "degC"), "windDirection": (10.0, "degree_(angle)"),
        "windSpeed": (10.0, "m_s-1"), "windGust": (10.0, "m_s-1"), "barometricPressure": (100000.0, "Pa"),
        "seaLevelPressure": (100000.0, "Pa"), "visibility": (10000.0, "m"), "relativeHumidity": (10.0, "percent"),
        "heatIndex": (10.0, "degC"),
    }  # elevation is the station's, not a measurement; null elements are not rows
    assert measured[0] == {
        "observation_id": "nws:KFLL:2019-06-27T10:53:00+00:00:temperature", "source": "nws",
        "source_id": "KFLL:2019-06-27T10:53:00+00:00:temperature", "station": "KFLL",
        "observed_at": datetime(2019, 6, 27, 10, 53, tzinfo=timezone.utc), "element": "temperature",
        "value": 10.0, "unit": "degC",
    }
    assert WEATHER_OBSERVATIONS.finalise(dict(measured[0]), **RUN)["observation_id"] == measured[0]["observation_id"]


def test_nws_bad_values_and_observations_are_quarantined_with_reasons():
    doc = orjson.loads(NWS_PAGE)
    feature = doc["features"][1]
    props = feature["properties"]
    # Built here: variants of the recorded observation (today's wmoUnit: prefix, a Z timestamp).
    variants = [
        {**feature, "properties": {**props, "temperature": {**props["temperature"], "value": "10"},
                                   "dewpoint": {"value": 2.5, "unitCode": "wmoUnit:degC"},
                                   "timestamp": "2024-01-05T12:00:00Z"}},
        {**feature, "properties": {k: v for k, v in props.items() if k != "timestamp"}},
        {k: v for k, v in feature.items() if k != "properties"},
    ]
    out = parse("nws", orjson.dumps({**doc, "features": variants}))
    bad_temperature = out[0]
    assert isinstance(bad_temperature, Rejected)
    assert bad_temperature.reason == "temperature: value must be a number, got str"
    assert bad_temperature.source_id == "KFLL:2024-01-05T12:00:00+00:00:temperature"
    assert out[1]["element"] == "dewpoint" and out[1]["unit"] == "degC" and out[1]["value"] == 2.5
    assert len([o for o in out if isinstance(o, dict)]) == 9  # the other elements of that observation
    assert [o.reason for o in out[10:]] == ["unreadable record: KeyError: 'timestamp'",
                                            "unreadable record: KeyError: 'properties'"]


def test_nws_station_goes_into_the_path_and_the_window_into_start_and_end():
    seen: list[httpx.Request] = []
    [page] = walk(SOURCES["nws"], lambda r: (200, NWS_PAGE), seen, query="KPHL",
                  since=date(2024, 1, 1), until=date(2024, 1, 8))
    assert str(seen[0].url) == ("https://api.weather.gov/stations/KPHL/observations?limit=500"
                                "&start=2024-01-01T00%3A00%3A00Z&end=2024-01-08T00%3A00%3A00Z")
    assert page.record_count == 2 and page.resume is None  # no pagination.next: the last page


def test_nws_query_is_one_path_segment_and_is_required():
    seen: list[httpx.Request] = []
    walk(SOURCES["nws"], lambda r: (200, NWS_PAGE), seen, query="../alerts")
    assert seen[0].url.raw_path.startswith(b"/stations/..%2Falerts/observations?")
    with pytest.raises(ValueError, match="nws needs a query"):
        walk(SOURCES["nws"], lambda r: (200, NWS_PAGE))


NWS_NEXT = "https://api.weather.gov/stations/KPHL/observations?cursor=eyJzIjo1MDB9&limit=500"


def test_nws_follows_pagination_next_and_stops_on_an_empty_page():
    # Built here: the recording with the pagination.next the API adds; the page after it is empty,
    # as the API answers past the last observation (with a next link again, not followed).
    page1 = orjson.dumps({**orjson.loads(NWS_PAGE), "pagination": {"next": NWS_NEXT}})
    empty = orjson.dumps({"type": "FeatureCollection", "features": [], "pagination": {"next": NWS_NEXT + "2"}})
    seen: list[httpx.Request] = []
    got = walk(SOURCES["nws"], lambda r: (200, empty if "cursor" in r.url.params else page1), seen, query="KPHL")
    assert [p.record_count for p in got] == [2] and got[0].resume == {"url": NWS_NEXT}
    assert [str(r.url) for r in seen][1] == NWS_NEXT and len(seen) == 2
