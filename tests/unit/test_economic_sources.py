"""World Bank and FRED (declared), Eurostat (JSON-stat cube) and OECD (SDMX-JSON) parser sources
on their real recorded responses (tests/fixtures/SOURCES.md, section "economic"): field-level
parsing, empty cells counted as quarantine entries with reasons, and the paginators followed to
their last page through httpx.MockTransport.

Every recording holds one page. Pages and records built here from the recordings (a second
page, a variant record, the JSON-stat 2.0 and SDMX series forms of a recorded cube) are
labelled where built.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from pydantic import ValidationError

from tasks.literature.sources import SOURCES
from tasks.literature.sources.base import SourceError
from tasks.literature.sources.declared import FieldSpec
from tasks.literature.sources.http import RateLimiter
from tasks.settings import Settings
from tasks.tables import INDICATOR_OBSERVATIONS, Rejected
from tests.recorded import recorded, serve

SINCE, UNTIL = date(2024, 1, 1), date(2024, 1, 2)
SETTINGS = Settings(http_max_retries=0)
RUN = {"run_id": "r1", "ingested_at": datetime(2024, 2, 1, tzinfo=timezone.utc), "raw_key": "raw/x"}

WB_GDP = recorded("worldbank/world_bank_gdp_indicators.json")
WB_POP = recorded("worldbank/world_bank_population_indicators.json")
FRED = recorded("fred/fred_series_observations.fredr.json")
ESTAT_IT_FR = recorded("eurostat/eurostat_jsonstat_nama_gdp_c_IT_FR.jsonstatpy.json")
ESTAT_ALL = recorded("eurostat/eurostat_jsonstat_nama_gdp_c.jsonstatpy.json")
OECD = recorded("oecd/oecd_sdmxjson_PART2.sdmxtestdata.json")


def pages(name, transport, **kw):
    with httpx.Client(transport=transport) as client:
        return list(SOURCES[name].iter_pages(client, SETTINGS, query="", since=SINCE, until=UNTIL,
                                             limiter=RateLimiter(1000.0), **kw))


def parse(name, body):
    out = list(SOURCES[name].parse_page(body))
    return [r for r in out if not isinstance(r, Rejected)], [r for r in out if isinstance(r, Rejected)]


def query_of(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


# --- World Bank -----------------------------------------------------------------------------------


def test_worldbank_parses_the_recorded_gdp_page():
    rows, rejects = parse("worldbank", WB_GDP)
    assert rejects == [] and len(rows) == 4
    # "1A"/"Argentina" is the fixture author's edit (SOURCES.md); the key uses country.id.
    assert rows[0] == {
        "observation_id": "worldbank:NY.GDP.MKTP.CD:1A:2013", "source": "worldbank",
        "source_id": "NY.GDP.MKTP.CD:1A:2013", "indicator": "NY.GDP.MKTP.CD", "indicator_name": "GDP (current US$)",
        "geography": "ARG", "geography_name": "Argentina", "period": "2013", "value": 2867811095547.36,
        "unit": None,  # "unit": "" in the record
        "updated_at": datetime(2020, 3, 18, tzinfo=timezone.utc),  # the page's lastupdated
    }
    assert [r["geography"] for r in rows] == ["ARG", "CSS", "CEB", "EAR"]
    final = INDICATOR_OBSERVATIONS.finalise(dict(rows[0]), **RUN)
    assert len(final["record_hash"]) == 64


def test_worldbank_population_integers_become_floats_and_keys_differ_by_indicator():
    rows, _ = parse("worldbank", WB_POP)
    assert rows[1]["value"] == 7123332.0 and type(rows[1]["value"]) is float
    gdp, _ = parse("worldbank", WB_GDP)
    assert {r["observation_id"] for r in rows}.isdisjoint(r["observation_id"] for r in gdp)


def test_worldbank_null_values_and_bad_records():
    meta, [rec, *_] = orjson.loads(WB_GDP)
    # Built here: variants of the first recorded record.
    page = orjson.dumps([meta, [{**rec, "value": None, "date": "2019"},
                                {**rec, "countryiso3code": "", "date": "2018"},
                                {**rec, "value": "n/a", "date": "2017"},
                                {**rec, "indicator": {"value": "GDP"}}]])
    out = list(SOURCES["worldbank"].parse_page(page))
    assert out[0]["value"] is None and out[0]["source_id"] == "NY.GDP.MKTP.CD:1A:2019"
    assert out[1]["geography"] == "1A"  # no ISO3 code: World Bank's own id
    assert isinstance(out[2], Rejected) and out[2].source_id == "NY.GDP.MKTP.CD:1A:2017"
    assert out[2].reason.startswith("unreadable record: ValueError: could not convert")
    assert isinstance(out[3], Rejected) and out[3].reason == "missing source_id (indicator.id, country.id, date)"


def test_worldbank_follows_page_numbers_to_pages_and_sends_its_parameters():
    meta, records = orjson.loads(WB_GDP)
    # Built here: the recorded page as page 1 of 2; page 2 is the population recording with pages 2.
    first = orjson.dumps([{**meta, "pages": 2}, records])
    second = orjson.dumps([{**meta, "page": 2, "pages": 2}, orjson.loads(WB_POP)[1]])
    seen: list[httpx.Request] = []
    got = pages("worldbank", serve(lambda r: (200, first if r.url.params["page"] == "1" else second), seen))
    assert [p.record_count for p in got] == [4, 4] and [p.resume for p in got] == [{"page": 2}, None]
    assert seen[0].url.path == "/v2/country/all/indicator/NY.GDP.MKTP.CD;SP.POP.TOTL"
    assert {k: v[0] for k, v in query_of(seen[0]).items()} == {"format": "json", "source": "2", "page": "1",
                                                               "per_page": "1000"}


def test_worldbank_recorded_single_page_is_the_last_and_a_null_record_list_is_empty():
    got = pages("worldbank", serve(lambda r: (200, WB_GDP)))
    assert len(got) == 1 and got[0].resume is None
    # Built here: the API's answer when nothing matches, [{…"pages": 0, "total": 0}, null].
    empty = orjson.dumps([{"page": 1, "pages": 0, "per_page": 1000, "total": 0}, None])
    assert pages("worldbank", serve(lambda r: (200, empty))) == []
    assert parse("worldbank", empty) == ([], [])


def test_worldbank_error_message_page_fails_the_window():
    # Built here: the shape of the API's answer to an unknown indicator (HTTP 200, no record list).
    error = orjson.dumps([{"message": [{"id": "120", "key": "Invalid value", "value": "The provided parameter value is not valid"}]}])
    with pytest.raises(SourceError, match="no record list at '1'"):
        pages("worldbank", serve(lambda r: (200, error)))


# --- FRED ------------------------------------------------------------------------------------------


def test_fred_parses_the_recorded_observations_with_the_declared_series():
    rows, rejects = parse("fred", FRED)
    assert rejects == [] and len(rows) == 20
    assert rows[0] == {
        "observation_id": "fred:GNPCA:1929-01-01", "source": "fred", "source_id": "GNPCA:1929-01-01",
        "indicator": "GNPCA", "indicator_name": "Real Gross National Product", "geography": "USA",
        "geography_name": "United States", "period": "1929-01-01", "value": 1120.076,
        "unit": "Billions of Chained 2012 Dollars",
    }
    # An observation carries no revision date (realtime_start is the request's vintage).
    assert INDICATOR_OBSERVATIONS.finalise(dict(rows[0]), **RUN)["updated_at"] is None
    assert rows[-1]["period"] == "1948-01-01" and rows[-1]["value"] == 2134.291


def test_fred_dot_is_a_missing_value():
    doc = orjson.loads(FRED)
    # Built here: the first recorded observation with FRED's "." for a missing value.
    doc["observations"] = [{**doc["observations"][0], "value": "."}]
    [row], _ = parse("fred", orjson.dumps(doc))
    assert row["value"] is None and row["source_id"] == "GNPCA:1929-01-01"


def test_fred_needs_its_key_sends_it_and_pages_by_offset(monkeypatch):
    monkeypatch.delenv("FRED_API_KEY", raising=False)
    with pytest.raises(SourceError, match="no API key: set FRED_API_KEY"):
        pages("fred", serve(lambda r: (200, FRED)))
    monkeypatch.setenv("FRED_API_KEY", "abc123")
    seen: list[httpx.Request] = []
    got = pages("fred", serve(lambda r: (200, FRED), seen))
    # 20 records is a short page for limit 100000: the last page, though count says 91
    # (the recording was made with limit=20).
    assert len(got) == 1 and got[0].resume is None and got[0].record_count == 20
    q = {k: v[0] for k, v in query_of(seen[0]).items()}
    assert q == {"series_id": "GNPCA", "file_type": "json", "sort_order": "asc", "api_key": "abc123",
                 "offset": "0", "limit": "100000"}
    assert "abc123" not in str(got[0].url) + str(got[0].params)


def test_a_const_field_excludes_path_and_parts():
    assert FieldSpec(const="GNPCA").const == "GNPCA"
    with pytest.raises(ValidationError, match="one of path, parts or const"):
        FieldSpec(const="GNPCA", path="date")


# --- Eurostat ----------------------------------------------------------------------------------------


def test_eurostat_expands_the_recorded_cube_and_quarantines_its_empty_cells():
    rows, rejects = parse("eurostat", ESTAT_IT_FR)
    assert len(rows) + len(rejects) == 1 * 1 * 2 * 69  # every cell of unit × indic_na × geo × time
    assert len(rows) == 64 and len(rejects) == 74
    fr_1974 = next(r for r in rows if r["source_id"] == "nama_gdp_c:EUR_HAB.B1GM.FR.1974")
    assert fr_1974 == {
        "observation_id": "eurostat:nama_gdp_c:EUR_HAB.B1GM.FR.1974", "source": "eurostat",
        "source_id": "nama_gdp_c:EUR_HAB.B1GM.FR.1974", "indicator": "nama_gdp_c.B1GM",
        "indicator_name": "GDP and main components - Current prices; Gross domestic product at market prices",
        "geography": "FR", "geography_name": "France", "period": "1974", "value": 4500.0,
        "unit": "Euro per inhabitant", "updated_at": datetime(2015, 11, 5, 23, 0, tzinfo=timezone.utc),
    }
    it_2013 = next(r for r in rows if r["source_id"] == "nama_gdp_c:EUR_HAB.B1GM.IT.2013")
    assert it_2013["value"] == 25600.0 and it_2013["geography_name"] == "Italy"
    assert rejects[0].source_id == "nama_gdp_c:EUR_HAB.B1GM.FR.1946"
    assert rejects[0].reason == ("cube cell nama_gdp_c:EUR_HAB.B1GM.FR.1946 has no value "
                                 "(status ':': not available)")
    assert rejects[-1].source_id == "nama_gdp_c:EUR_HAB.B1GM.IT.2014"


def test_eurostat_full_recorded_cube_accounts_for_every_cell():
    rows, rejects = parse("eurostat", ESTAT_ALL)
    assert len(rows) + len(rejects) == 44 * 69 and len(rows) == 1134
    assert len({r["observation_id"] for r in rows}) == 1134


def jsonstat2(legacy: bytes) -> dict:
    """Built here: the recorded legacy dataset rewritten in JSON-stat 2.0 as the dissemination
    API writes it (id/size/role at the top, a sparse value object, a status object)."""
    ds = orjson.loads(legacy)["nama_gdp_c"]
    dims = dict(ds["dimension"])
    ids, sizes = dims.pop("id"), dims.pop("size")
    return {
        "version": "2.0", "class": "dataset", "label": ds["title"], "updated": "2015-11-05T23:00:00Z",
        "id": ids, "size": sizes, "role": {"geo": ["geo"], "time": ["time"]}, "dimension": dims,
        "value": {str(i): v for i, v in enumerate(ds["value"]) if v is not None},
        "status": {str(i): s for i, s in enumerate(ds["status"]["value"]) if s is not None},
        "extension": {"id": "NAMA_GDP_C", "status": {"label": ds["status"]["category"]["label"]}},
    }


def test_eurostat_reads_json_stat_2_and_gives_the_same_cells():
    rows, rejects = parse("eurostat", orjson.dumps(jsonstat2(ESTAT_IT_FR)))
    legacy_rows, legacy_rejects = parse("eurostat", ESTAT_IT_FR)
    assert rows == legacy_rows
    assert [r.reason for r in rejects] == [r.reason for r in legacy_rejects]


def test_eurostat_a_malformed_cube_is_one_reject_and_no_rows():
    # Built here: the recorded cube with one value cut off, so value and dimensions disagree.
    doc = orjson.loads(ESTAT_IT_FR)
    doc["nama_gdp_c"]["value"] = doc["nama_gdp_c"]["value"][:-1]
    rows, [reject] = parse("eurostat", orjson.dumps(doc))
    assert rows == [] and reject.reason == "unreadable record: ValueError: value holds 137 cells, the dimensions 138"


def test_eurostat_fetches_one_page_with_its_filters():
    seen: list[httpx.Request] = []
    got = pages("eurostat", serve(lambda r: (200, ESTAT_IT_FR), seen))
    assert len(got) == 1 and got[0].record_count == 1 and got[0].resume is None  # the page is the cube
    assert str(seen[0].url) == ("https://ec.europa.eu/eurostat/api/dissemination/statistics/1.0/data/nama_10_pc"
                                "?format=JSON&lang=EN&unit=CP_EUR_HAB&na_item=B1GQ")


# --- OECD ------------------------------------------------------------------------------------------------


def test_oecd_expands_the_recorded_flat_observations():
    rows, rejects = parse("oecd", OECD)
    assert rejects == [] and len(rows) == 7
    assert rows[0] == {
        "observation_id": "oecd:PART2:AUS.5CLAT.INI.FOG.MAT.MN", "source": "oecd",
        "source_id": "PART2:AUS.5CLAT.INI.FOG.MAT.MN", "indicator": "PART2.5CLAT.INI.FOG.MAT.MN",
        "indicator_name": ("Percentage of class time spent on lecture-style presentations, according to teachers; "
                           "Initial year in percentage; 4th grade; Mathematics; Percentage"),
        "geography": "AUS", "geography_name": "Australia", "period": None,  # PART2 has no time dimension
        "value": 11.963615756565, "unit": None, "updated_at": None,
    }
    assert rows[-1]["source_id"] == "PART2:OME.17CCL.CHJ.ZZZ.ZZZ.IND" and rows[-1]["geography_name"] == "OECD mean"


def series_message() -> dict:
    """Built here: the recorded message regrouped as SDMX-JSON series (every dimension but MSR
    keys a series, MSR is the observation dimension), plus a null observation and a key
    that points past the structure."""
    doc = orjson.loads(OECD)
    dims = doc["structure"]["dimensions"]["observation"]
    series: dict[str, dict] = {}
    for key, obs in doc["dataSets"][0]["observations"].items():
        *skey, msr = key.split(":")
        series.setdefault(":".join(skey), {"observations": {}})["observations"][msr] = obs
    series["0:0:0:0:0"]["observations"]["1"] = [None, None]
    series["0:0:0:0:0"]["observations"]["9"] = [1.0, None]
    doc["structure"]["dimensions"] = {"series": dims[:5], "observation": dims[5:]}
    doc["dataSets"] = [{"action": "Information", "series": series}]
    return doc


def test_oecd_reads_series_and_quarantines_null_and_misfit_observations():
    rows, rejects = parse("oecd", orjson.dumps(series_message()))
    flat, _ = parse("oecd", OECD)
    assert sorted(rows, key=lambda r: r["source_id"]) == sorted(flat, key=lambda r: r["source_id"])
    assert [(r.source_id, r.reason) for r in rejects] == [
        ("PART2:AUS.5CLAT.INI.FOG.MAT.SE", "observation PART2:AUS.5CLAT.INI.FOG.MAT.SE has no value"),
        (None, "observation key '0:0:0:0:0:9' does not fit the structure: list index out of range"),
    ]


def test_oecd_without_a_dataflow_link_is_rejected_whole():
    doc = orjson.loads(OECD)
    doc["structure"]["links"], doc["header"]["links"] = [], []
    rows, [reject] = parse("oecd", orjson.dumps(doc))
    assert rows == [] and "no dataflow or request link" in reject.reason


def test_oecd_fetches_the_dataflow_in_one_page():
    seen: list[httpx.Request] = []
    got = pages("oecd", serve(lambda r: (200, OECD), seen))
    assert len(got) == 1 and got[0].resume is None
    assert str(seen[0].url) == "https://stats.oecd.org/SDMX-JSON/data/PART2/all/all?dimensionAtObservation=AllDimensions"
