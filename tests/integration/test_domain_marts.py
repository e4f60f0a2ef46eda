"""Every non-literature source, from its recorded pages through landing, normalise and one
dbt build to its domain mart (DuckDB warehouse, real dbt).

``PAGES`` lists, per source, the responses its paginator is served in order. Where the
recording has one page, the page after it is built here (said beside it), so the
paginator is followed to its real last-page condition. ``EXPECTED`` is read from the
recorded files: the rows each mart must hold afterwards.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import duckdb
import orjson
import pytest

from tasks.lake import lake_from_settings
from tasks.literature.landing import land_window
from tasks.literature.normalise import normalise_window
from tasks.literature.sources import SOURCES
from tasks.literature.sources.http import make_client
from tasks.literature.watermark import StateStore, commit_window, plan_window
from tasks.settings import load_settings
from tasks.warehouse.dbt import run_dbt
from tests.recorded import cassette, recorded, serve

CT = "clinicaltrials/ctgov_v2_studies_search_page1.biomcp.json"
CT_STUDY = "clinicaltrials/ctgov_v2_study_NCT06604689.biomcp.json"
FDA_EVENT = "openfda_events/event.postannotation.json"
FDA_LABEL = "openfda_labels/label-jantoven.json"
UNIPROT = "uniprot/uniprot_uniprotkb_search.biomcp.json"
UNIPROT_ENTRY = "uniprot/uniprot_uniprotkb_entry_P15056.biomcp.json"
UNIPROT_NEXT = "https://rest.uniprot.org/uniprotkb/search?format=json&size=500&cursor=1mkyc2z1xq"
CHEMBL = "chembl/chembl_mechanism.biomcp.json"
CHEMBL_NEXT = "/chembl/api/data/mechanism.json?limit=1000&offset=1000&order_by=mec_id"
(_, NOAA_NORMALS), (_, NOAA_PRCP) = cassette("noaa/ncdc.yml")
NOAA_STATIONS = cassette("noaa/ncdc_stations.yml")[2][1]
NWS = "nws/nws_station_observations.pynws.json"
QUERIES = {"noaa": "GHCND:USC00200230", "nws": "KFLL"}
"""The sync's query of the sources that need one (a station)."""
WB_GDP = "worldbank/world_bank_gdp_indicators.json"
WB_POP = "worldbank/world_bank_population_indicators.json"
FRED = "fred/fred_series_observations.fredr.json"
ESTAT = "eurostat/eurostat_jsonstat_nama_gdp_c_IT_FR.jsonstatpy.json"
OECD = "oecd/oecd_sdmxjson_PART2.sdmxtestdata.json"


def _json(obj) -> bytes:
    return orjson.dumps(obj)


PAGES: dict[str, list[tuple[bytes, dict]]] = {
    # Page 1 as recorded (5 studies, a nextPageToken); page 2 is built: the recorded single
    # study in a list envelope without nextPageToken, which is how the API ends a search.
    "clinicaltrials": [(recorded(CT), {}), (_json({"studies": [orjson.loads(recorded(CT_STUDY))]}), {})],
    # The FAERS recording is one results[] item without an envelope: its page is built here,
    # openFDA's {"meta": {"results": {skip, limit, total}}, "results": [...]}; total 1 ends the walk.
    "openfda_events": [(_json({"meta": {"results": {"skip": 0, "limit": 1000, "total": 1}},
                               "results": [orjson.loads(recorded(FDA_EVENT))]}), {})],
    # A real one-page label response (meta.results.total 1): the last page as recorded.
    "openfda_labels": [(recorded(FDA_LABEL), {})],
    # The UniProt recording is a body file (its Link header was not kept): page 1 is served with a
    # built Link rel="next"; page 2 is built: the recorded entry (the same P15056) in a results
    # envelope without a Link header, the API's last page. The mart keeps one copy of P15056.
    "uniprot": [(recorded(UNIPROT), {"Content-Type": "application/json", "Link": f'<{UNIPROT_NEXT}>; rel="next"'}),
                (_json({"results": [orjson.loads(recorded(UNIPROT_ENTRY))]}), {})],
    # Page 1 is built: the recorded envelope with the relative page_meta.next the API writes; page 2
    # is the recording as is (page_meta.next null, the last page). The mart keeps one copy of mec 2300.
    "chembl": [(_json({**orjson.loads(recorded(CHEMBL)), "page_meta": {
                    **orjson.loads(recorded(CHEMBL))["page_meta"], "next": CHEMBL_NEXT}}), {}),
               (recorded(CHEMBL), {})],
    # The recorded GHCND page (offset 1, count 28 < limit 1000) is the window's only page.
    "noaa": [(NOAA_PRCP, {})],
    # The recorded list of 14 GHCND stations (count 14): the last page as recorded.
    "noaa_stations": [(NOAA_STATIONS, {})],
    # The recording has no pagination.next: the last page as recorded. Its first observation has
    # every element null and is quarantined with that reason.
    "nws": [(recorded(NWS), {})],
    # Page 1 is built: the GDP recording's meta with pages 2; page 2 is built: the population
    # recording's records under meta page 2 of 2, the paginator's last page.
    "worldbank": [(_json([{**orjson.loads(recorded(WB_GDP))[0], "pages": 2}, orjson.loads(recorded(WB_GDP))[1]]), {}),
                  (_json([{**orjson.loads(recorded(WB_POP))[0], "page": 2, "pages": 2},
                          orjson.loads(recorded(WB_POP))[1]]), {})],
    # The recording as is: 20 observations, a short page for the declared limit, so the last.
    "fred": [(recorded(FRED), {})],
    # One JSON-stat cube and one SDMX-JSON message, each one page, as recorded.
    "eurostat": [(recorded(ESTAT), {})],
    "oecd": [(recorded(OECD), {})],
}
# By design: the empty cells of the Eurostat cube (status ":" not available), one per cell, and the
# NWS recording's first observation, which has every element null.
QUARANTINED = {"nws": 1, "eurostat": 74}
"""Records the recordings hold that are quarantined by design, with their reason."""
_ESTAT_CELLS = orjson.loads(recorded(ESTAT))["nama_gdp_c"]["value"]  # geo (FR, IT) × 69 years 1946…
_OECD_KEYS = ("AUS.5CLAT.INI.FOG.MAT.MN", "HUN.5CLAT.CHG.FOG.MAT.MN", "HUN.5CLAT.INI.FOG.MAT.SE",
              "NZL.5CLAT.CHG.FOG.MAT.MN", "NZL.5CLAT.INI.FOG.MAT.SE", "NOR.5CLAT.CHG.FOG.MAT.MN",
              "OME.17CCL.CHJ.ZZZ.ZZZ.IND")
EXPECTED: dict[str, set[str]] = {
    "clinical_trials": {f"clinicaltrials:{i}" for i in (
        "NCT02710084", "NCT05105685", "NCT01525901", "NCT03493607", "NCT07119606", "NCT06604689")},
    "drug_adverse_events": {"openfda_events:4562564-7"},
    "drug_labels": {"openfda_labels:396ff415-9bf2-8f45-e063-6394a90af63e"},
    "proteins": {"uniprot:P15056"},
    "drug_mechanisms": {"chembl:2300"},
    "weather_observations": {
        *(f"noaa:GHCND:USC00200230:2013-09-{day:02d}T00:00:00:PRCP" for day in range(3, 31)),
        *(f"nws:KFLL:2019-06-27T10:53:00+00:00:{e}" for e in (
            "temperature", "dewpoint", "windDirection", "windSpeed", "windGust", "barometricPressure",
            "seaLevelPressure", "visibility", "relativeHumidity", "heatIndex"))},
    "weather_stations": {f"noaa_stations:{s['id']}" for s in orjson.loads(NOAA_STATIONS)["results"]},
    "indicator_observations": (
        {f"worldbank:{r['indicator']['id']}:{r['country']['id']}:{r['date']}"
         for path in (WB_GDP, WB_POP) for r in orjson.loads(recorded(path))[1]}
        | {f"fred:GNPCA:{o['date']}" for o in orjson.loads(recorded(FRED))["observations"]}
        | {f"eurostat:nama_gdp_c:EUR_HAB.B1GM.{('FR', 'IT')[i // 69]}.{1946 + i % 69}"
           for i, v in enumerate(_ESTAT_CELLS) if v is not None}
        | {f"oecd:PART2:{k}" for k in _OECD_KEYS}
    ),
}
WINDOW = (date(2024, 1, 1), date(2024, 2, 1))


def sync(settings, name: str) -> dict:
    """Land, normalise and commit one window of ``name`` from its recorded pages."""
    pages = iter(PAGES[name])
    seen: list = []
    source = SOURCES[name]
    lake = lake_from_settings(settings)
    store = StateStore(lake)
    query = QUERIES.get(name, "")
    state = store.load(name, query)
    window = plan_window(state, *WINDOW, today=WINDOW[1])
    with make_client(settings, transport=serve(lambda request: (200, *next(pages)), seen)) as client:
        window = land_window(source, client, settings, store, state, window)
    result = normalise_window(source, lake, window, ingested_at=datetime.now(timezone.utc),
                              max_bytes=settings.max_response_bytes)
    commit_window(state, window)
    store.save(state)
    return {"requests": len(seen), "pages": result.pages, "records": result.records,
            "quarantined": result.quarantined}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KI_DATA_DIR", str(tmp_path_factory.mktemp("domains")))
        mp.setenv("NOAA_CDO_TOKEN", "recorded-token")
        mp.setenv("FRED_API_KEY", "test-key")  # FRED refuses requests without one
        settings = load_settings()
        runs = {name: sync(settings, name) for name in PAGES}
        assert run_dbt(settings, ["build", "--exclude", "tag:elt"]).success
        yield settings, runs


def rows(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_file), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_recorded_page_is_requested_landed_and_reconciled(warehouse, name):
    _, runs = warehouse
    run = runs[name]
    assert run["requests"] == run["pages"] == len(PAGES[name])
    assert run["records"] > 0 and run["quarantined"] == QUARANTINED.get(name, 0)


@pytest.mark.parametrize("mart", sorted(EXPECTED))
def test_each_domain_mart_holds_one_row_per_recorded_record(warehouse, mart):
    settings, _ = warehouse
    key = {t.mart: t.key for t in {s.TABLE for s in SOURCES.values()}}[mart]
    assert {r[0] for r in rows(settings, f"select {key} from {mart}")} == EXPECTED[mart]


def test_clinical_trials_fields_match_the_recording(warehouse):
    settings, _ = warehouse
    trial = rows(settings, "select source_id, title, status, phases, study_type, conditions, interventions, "
                           "sponsor, start_date, completion_date, enrollment, url from clinical_trials "
                           "where source_id = 'NCT02710084'")
    assert trial == [(
        "NCT02710084", "Piloting Treatment With Intranasal Oxytocin in Phelan-McDermid Syndrome",
        "completed", ["PHASE2"], "interventional", ["Phelan-McDermid Syndrome"], ["Oxytocin", "Saline"],
        "Alexander Kolevzon", "2016-04-29", "2020-07-29", 18, "https://clinicaltrials.gov/study/NCT02710084",
    )]


def test_a_second_build_of_the_same_lake_changes_no_mart(warehouse):
    settings, _ = warehouse
    before = {m: rows(settings, f"select count(*), count(distinct record_hash) from {m}") for m in EXPECTED}
    assert run_dbt(settings, ["build", "--exclude", "tag:elt"]).success
    assert {m: rows(settings, f"select count(*), count(distinct record_hash) from {m}") for m in EXPECTED} == before


def test_drug_adverse_events_fields_match_the_recording(warehouse):
    settings, _ = warehouse
    [event] = rows(settings, "select source_id, received_date, serious, country, patient_sex, drugs, reactions, "
                             "updated_at from drug_adverse_events where event_id = 'openfda_events:4562564-7'")
    source_id, received, serious, country, sex, drugs, reactions, updated = event
    assert (source_id, received, serious, country, sex) == ("4562564-7", date(2005, 1, 27), True, None, "female")
    assert len(drugs) == 23 and drugs[:3] == ["VIOXX", "VIOXX", "OS-CAL + D"] and drugs[-1] == "PERCOCET"
    assert len(reactions) == 86 and reactions[0] == "ACTIVATED PARTIAL THROMBOPLASTIN TIME PROLONGED"
    assert updated == datetime(2005, 7, 27, tzinfo=timezone.utc)


def test_drug_labels_fields_match_the_recording(warehouse):
    settings, _ = warehouse
    [label] = rows(settings, "select source_id, set_id, version, brand_names, generic_names, manufacturer, "
                             "effective_date, left(indications, 40), left(warnings, 40) from drug_labels")
    # The recording's label was trimmed of version and effective_time by its author (SOURCES.md).
    assert label == (
        "396ff415-9bf2-8f45-e063-6394a90af63e", "19a69a72-ac5d-45d5-a94d-a5aaecbe4730", None, ["Jantoven"],
        ["WARFARIN SODIUM"], "Upsher-Smith Laboratories, LLC", None,
        "1 INDICATIONS AND USAGE JANTOVEN ® is in", "WARNING: BLEEDING RISK Warfarin Sodium c",
    )


def test_proteins_fields_match_the_recording(warehouse):
    settings, _ = warehouse
    protein = rows(settings, "select source, source_id, name, genes, organism, taxon_id, length, reviewed, "
                             "updated_at from proteins where protein_id = 'uniprot:P15056'")
    # updated_at: the recording's authors removed entryAudit, so there is no date to carry.
    assert protein == [("uniprot", "P15056", "Serine/threonine-protein kinase B-raf", ["BRAF"], "Homo sapiens",
                        9606, 766, True, None)]


def test_drug_mechanisms_fields_match_the_recording(warehouse):
    settings, runs = warehouse
    mechanism = rows(settings, "select source, source_id, molecule_id, target_id, action_type, mechanism, "
                               "updated_at from drug_mechanisms where mechanism_id = 'chembl:2300'")
    assert mechanism == [("chembl", "2300", "CHEMBL3137343", "CHEMBL3307223", "INHIBITOR",
                          "Programmed cell death protein 1 inhibitor", None)]
    assert runs["chembl"]["records"] == 2  # the same mechanism on both pages, one mart row


def test_weather_observations_fields_match_the_recordings(warehouse):
    settings, runs = warehouse
    noaa = rows(settings, "select source, station, observed_at, element, value, unit, updated_at "
                          "from weather_observations where source = 'noaa' order by observed_at")
    assert len(noaa) == 28 and noaa[0] == ("noaa", "GHCND:USC00200230", datetime(2013, 9, 3, tzinfo=timezone.utc),
                                           "PRCP", 0.0, None, None)
    assert [(r[2].day, r[4]) for r in noaa if r[4]] == [
        (7, 8.0), (9, 74.0), (12, 36.0), (15, 8.0), (16, 13.0), (20, 48.0), (21, 99.0), (29, 41.0), (30, 5.0)]
    nws = dict(rows(settings, "select element, (station, observed_at, value, unit) from weather_observations "
                              "where source = 'nws'"))
    assert nws["temperature"] == ("KFLL", datetime(2019, 6, 27, 10, 53, tzinfo=timezone.utc), 10.0, "degC")
    assert nws["barometricPressure"][2:] == (100000.0, "Pa") and "elevation" not in nws
    assert runs["nws"]["records"] == 10  # 10 measured elements of the one observation that has any


def test_weather_stations_fields_match_the_recording(warehouse):
    settings, _ = warehouse
    station = rows(settings, "select source, source_id, name, latitude, longitude, elevation_m, first_date, "
                             "last_date, updated_at from weather_stations "
                             "where station_id = 'noaa_stations:GHCND:USC00084289'")
    assert station == [("noaa_stations", "GHCND:USC00084289", "INVERNESS 3 SE, FL US", 28.8029, -82.3126, 12.2,
                        date(1899, 2, 1), date(2018, 11, 25), None)]


def test_indicator_observations_fields_match_the_recordings(warehouse):
    settings, runs = warehouse
    got = rows(settings, "select observation_id, indicator, indicator_name, geography, geography_name, period, "
                         "value, unit, updated_at from indicator_observations where observation_id in "
                         "('worldbank:SP.POP.TOTL:S3:2013', 'fred:GNPCA:1948-01-01', "
                         "'eurostat:nama_gdp_c:EUR_HAB.B1GM.IT.2013', 'oecd:PART2:OME.17CCL.CHJ.ZZZ.ZZZ.IND') "
                         "order by observation_id")
    assert got == [
        ("eurostat:nama_gdp_c:EUR_HAB.B1GM.IT.2013", "nama_gdp_c.B1GM",
         "GDP and main components - Current prices; Gross domestic product at market prices", "IT", "Italy",
         "2013", 25600.0, "Euro per inhabitant", datetime(2015, 11, 5, 23, 0, tzinfo=timezone.utc)),
        ("fred:GNPCA:1948-01-01", "GNPCA", "Real Gross National Product", "USA", "United States", "1948-01-01",
         2134.291, "Billions of Chained 2012 Dollars", None),
        ("oecd:PART2:OME.17CCL.CHJ.ZZZ.ZZZ.IND", "PART2.17CCL.CHJ.ZZZ.ZZZ.IND",
         "Classroom level composite innovation indices, 2000-2011; Index of change; Not applicable; "
         "Not applicable; Index", "OME", "OECD mean", None, 22.0969285714286, None, None),
        # "S3"/"Bolivia" as the fixture author edited it (SOURCES.md); the unit "" is null.
        ("worldbank:SP.POP.TOTL:S3:2013", "SP.POP.TOTL", "Population, total", "BOL", "Bolivia", "2013",
         7123332.0, None, datetime(2020, 3, 18, tzinfo=timezone.utc)),
    ]
    # One parsed row per non-empty cell: the runs' row counts are the mart's.
    assert sum(runs[s]["records"] for s in ("worldbank", "fred", "eurostat", "oecd")) == len(
        EXPECTED["indicator_observations"])
