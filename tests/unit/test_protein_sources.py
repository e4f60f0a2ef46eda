"""UniProt (Link-header paging) and ChEMBL (relative ``page_meta.next``) declared sources on
their real recorded responses (tests/fixtures/SOURCES.md, section "protein"): field-level
parsing, quarantine with reasons, and the paginator followed to its last page through
httpx.MockTransport.

Both recordings hold one page. The UniProt search recording is a body file (its response
headers, where the paging is, were not kept), so the ``Link`` headers are built here; pages
and records built here from the recordings are labelled where built.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from tasks.literature.sources import SOURCES
from tasks.literature.sources.base import SourceError
from tasks.literature.sources.http import RateLimiter
from tasks.settings import Settings
from tasks.tables import DRUG_MECHANISMS, PROTEINS, RecordError, Rejected
from tests.recorded import recorded, serve

SINCE, UNTIL = date(2024, 1, 1), date(2024, 2, 1)
SETTINGS = Settings(http_max_retries=0)
RUN = {"run_id": "r1", "ingested_at": datetime(2024, 2, 1, tzinfo=timezone.utc), "raw_key": "raw/x"}

UNIPROT_SEARCH = recorded("uniprot/uniprot_uniprotkb_search.biomcp.json")
UNIPROT_ENTRY = orjson.loads(recorded("uniprot/uniprot_uniprotkb_entry_P15056.biomcp.json"))
CHEMBL_PAGE = recorded("chembl/chembl_mechanism.biomcp.json")


def pages(name, transport, **kw):
    with httpx.Client(transport=transport) as client:
        return list(SOURCES[name].iter_pages(client, SETTINGS, query=kw.pop("query", ""),
                                             since=kw.pop("since", SINCE), until=kw.pop("until", UNTIL),
                                             limiter=RateLimiter(1000.0), **kw))


def rows(name, body):
    return list(SOURCES[name].parse_page(body))


def envelope(key: str, *records: dict, **extra) -> bytes:
    return orjson.dumps({key: list(records), **extra})


def query_of(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


# --- UniProt: fields ---------------------------------------------------------------------------


def test_uniprot_parses_the_recorded_search_page():
    parsed = rows("uniprot", UNIPROT_SEARCH)
    assert len(parsed) == 1
    row = parsed[0]
    assert row == {
        "protein_id": "uniprot:P15056", "source": "uniprot", "source_id": "P15056",
        "name": "Serine/threonine-protein kinase B-raf", "genes": ["BRAF"], "organism": "Homo sapiens",
        "taxon_id": 9606, "length": 766, "reviewed": True,
        # The recording's authors removed entryAudit when they reduced it: no date to read.
        "updated_at": None,
    }
    final = PROTEINS.finalise(dict(row), **RUN)
    assert final["protein_id"] == "uniprot:P15056" and len(final["record_hash"]) == 64


def test_uniprot_entry_recording_gives_the_same_row_as_the_search_recording():
    # Built here: the single-entry recording (GET /uniprotkb/P15056.json) in a search envelope.
    assert rows("uniprot", envelope("results", UNIPROT_ENTRY)) == rows("uniprot", UNIPROT_SEARCH)


def test_uniprot_trembl_entry_submission_name_and_audit_date():
    # Built here from the recorded entry: the shape of an unreviewed (TrEMBL) entry, which has a
    # submission name instead of a recommended name, and the entryAudit the recording lacks.
    trembl = {**UNIPROT_ENTRY, "primaryAccession": "A0A024R161", "entryType": "UniProtKB unreviewed (TrEMBL)",
              "proteinDescription": {"submissionNames": [{"fullName": {"value": "Guanine nucleotide-binding protein"}}]},
              "genes": [{"orfNames": [{"value": "hCG_1642583"}]}],
              "entryAudit": {"firstPublicDate": "2014-07-09", "lastAnnotationUpdateDate": "2024-01-24"}}
    [row] = rows("uniprot", envelope("results", trembl))
    assert row["reviewed"] is False and row["source_id"] == "A0A024R161"
    assert row["name"] == "Guanine nucleotide-binding protein"
    assert row["genes"] is None  # no geneName, only an ORF name (finalise writes an empty list)
    assert row["updated_at"] == datetime(2024, 1, 24, tzinfo=timezone.utc)
    assert PROTEINS.finalise(dict(row), **RUN)["genes"] == []


def test_uniprot_bad_records_are_quarantined_with_reasons_and_numbers_as_strings_accepted():
    # Built here: variants of the recorded entry.
    no_id = {k: v for k, v in UNIPROT_ENTRY.items() if k != "primaryAccession"}
    inactive = {**UNIPROT_ENTRY, "primaryAccession": "P00001", "entryType": "Inactive"}
    fractional = {**UNIPROT_ENTRY, "primaryAccession": "P00002", "sequence": {"length": 766.5}}
    strings = {**UNIPROT_ENTRY, "primaryAccession": "P00003", "organism": {**UNIPROT_ENTRY["organism"],
               "taxonId": "9606"}, "sequence": {"length": "766"}}
    out = rows("uniprot", envelope("results", no_id, inactive, fractional, strings, "P15056"))
    assert isinstance(out[0], Rejected) and out[0].reason == "missing source_id (primaryAccession)"
    assert isinstance(out[1], Rejected) and out[1].source_id == "P00001"
    assert out[1].reason.startswith("unreadable record: ValueError: unknown code 'Inactive'")
    assert isinstance(out[2], Rejected) and out[2].source_id == "P00002"
    assert out[2].reason == "unreadable record: TypeError: expected an integer, got float"
    assert out[3]["taxon_id"] == 9606 and out[3]["length"] == 766
    assert isinstance(out[4], Rejected) and out[4].reason == "record is not a JSON object"


# --- UniProt: the window in the query, Link header paging ---------------------------------------

NEXT = "https://rest.uniprot.org/uniprotkb/search?format=json&size=500&query=BRAF&cursor=1mkyc2z1xq"


def test_uniprot_follows_link_rel_next_and_stops_on_a_link_with_only_prev():
    # Built here: the recorded page is served with a Link header pointing at a second page; the
    # second page (the recorded entry in a results envelope) has only rel="prev", which ends it.
    page2 = envelope("results", UNIPROT_ENTRY)

    def route(request):
        if "cursor" in request.url.params:
            return 200, page2, {"Content-Type": "application/json",
                                "Link": '<https://rest.uniprot.org/uniprotkb/search?size=500>; rel="prev"'}
        return 200, UNIPROT_SEARCH, {"Content-Type": "application/json", "Link": f'<{NEXT}>; rel="next"'}

    seen: list[httpx.Request] = []
    got = pages("uniprot", serve(route, seen), query="BRAF")
    assert [p.record_count for p in got] == [1, 1]
    assert got[0].resume == {"url": NEXT} and got[1].resume is None
    assert len(seen) == 2 and str(seen[1].url) == NEXT
    first = query_of(seen[0])
    assert first["query"] == ["(BRAF) AND date_modified:[2024-01-01 TO 2024-01-31]"]  # inclusive last day
    assert first["format"] == ["json"] and first["size"] == ["500"]
    assert first["fields"][0].split(",")[:2] == ["accession", "reviewed"]


def test_uniprot_page_without_a_link_header_is_the_last():
    seen: list[httpx.Request] = []
    got = pages("uniprot", serve(lambda r: (200, UNIPROT_SEARCH), seen))
    assert [p.record_count for p in got] == [1] and got[0].resume is None and len(seen) == 1
    assert query_of(seen[0])["query"] == ["date_modified:[2024-01-01 TO 2024-01-31]"]  # no sync query


def test_uniprot_resumes_from_the_landed_link():
    seen: list[httpx.Request] = []
    got = pages("uniprot", serve(lambda r: (200, UNIPROT_SEARCH), seen), resume={"url": NEXT})
    assert len(got) == 1 and [str(r.url) for r in seen] == [NEXT]


def test_uniprot_refuses_a_next_link_to_another_host():
    link = {"Content-Type": "application/json", "Link": '<https://evil.example/search?cursor=x>; rel="next"'}
    with pytest.raises(SourceError, match="another host: evil.example"):
        pages("uniprot", serve(lambda r: (200, UNIPROT_SEARCH, link)))


# --- ChEMBL: fields ----------------------------------------------------------------------------


def test_chembl_parses_the_recorded_mechanism_page():
    [row] = rows("chembl", CHEMBL_PAGE)
    assert row == {
        "mechanism_id": "chembl:2300", "source": "chembl", "source_id": "2300",
        "molecule_id": "CHEMBL3137343", "target_id": "CHEMBL3307223", "action_type": "INHIBITOR",
        "mechanism": "Programmed cell death protein 1 inhibitor",
    }
    final = DRUG_MECHANISMS.finalise(dict(row), **RUN)
    assert final["updated_at"] is None  # a mechanism carries no modification date


def test_chembl_bad_records_are_quarantined_with_reasons():
    [rec] = orjson.loads(CHEMBL_PAGE)["mechanisms"]
    # Built here: variants of the recorded mechanism.
    out = rows("chembl", envelope("mechanisms",
                                  {k: v for k, v in rec.items() if k != "mec_id"},
                                  {**rec, "mec_id": "2301"},
                                  {**rec, "mec_id": {"id": 2302}},
                                  {**rec, "mec_id": 2303, "molecule_chembl_id": None}))
    assert isinstance(out[0], Rejected) and out[0].reason == "missing source_id (mec_id)"
    assert out[1]["source_id"] == "2301" and out[1]["mechanism_id"] == "chembl:2301"  # number as a string
    assert isinstance(out[2], Rejected) and out[2].reason.startswith("unreadable record: TypeError")
    assert out[3]["molecule_id"] is None and DRUG_MECHANISMS.finalise(dict(out[3]), **RUN)["source_id"] == "2303"
    wrong_type = {**out[1], "target_id": 3307223}
    with pytest.raises(RecordError, match="field 'target_id' must be a string"):
        DRUG_MECHANISMS.finalise(wrong_type, **RUN)


# --- ChEMBL: full refresh, relative page_meta.next -------------------------------------------------

RELATIVE_NEXT = "/chembl/api/data/mechanism.json?limit=1000&offset=1000&order_by=mec_id"


def chembl_page1() -> bytes:
    # Built here: the recorded envelope as a first page of two, with the relative next URL the
    # API writes (page_meta.next is null in the recording, which has one page).
    doc = orjson.loads(CHEMBL_PAGE)
    return orjson.dumps({**doc, "page_meta": {**doc["page_meta"], "limit": 1000, "next": RELATIVE_NEXT,
                                              "total_count": 2}})


def test_chembl_joins_the_relative_next_url_and_stops_on_null_next():
    seen: list[httpx.Request] = []
    got = pages("chembl", serve(lambda r: (200, CHEMBL_PAGE if "offset" in r.url.params else chembl_page1()),
                                seen))
    absolute = "https://www.ebi.ac.uk" + RELATIVE_NEXT
    assert [p.record_count for p in got] == [1, 1]
    assert got[0].resume == {"url": absolute} and got[1].resume is None  # the recorded page: next null
    assert [str(r.url) for r in seen] == [
        "https://www.ebi.ac.uk/chembl/api/data/mechanism.json?limit=1000&order_by=mec_id", absolute]


def test_chembl_recorded_page_alone_is_the_last_page():
    seen: list[httpx.Request] = []
    got = pages("chembl", serve(lambda r: (200, CHEMBL_PAGE), seen))
    assert len(got) == len(seen) == 1 and got[0].resume is None


def test_chembl_every_window_is_a_full_refresh_and_sends_no_query():
    requests = []
    for since, until in [(date(2024, 1, 1), date(2024, 1, 2)), (date(2025, 6, 1), date(2025, 7, 1))]:
        seen: list[httpx.Request] = []
        pages("chembl", serve(lambda r: (200, CHEMBL_PAGE), seen), since=since, until=until, query="pembrolizumab")
        requests.append(str(seen[0].url))
    assert requests[0] == requests[1] == "https://www.ebi.ac.uk/chembl/api/data/mechanism.json?limit=1000&order_by=mec_id"


def test_chembl_refuses_a_next_url_to_another_host():
    doc = orjson.loads(CHEMBL_PAGE)
    evil = orjson.dumps({**doc, "page_meta": {**doc["page_meta"], "next": "https://evil.example/mechanism.json"}})
    with pytest.raises(SourceError, match="another host: evil.example"):
        pages("chembl", serve(lambda r: (200, evil)))
