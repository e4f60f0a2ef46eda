"""Type-confused records: one bad record is quarantined with its field named, the window goes on.

The records are the real recordings (tasks/literature/sources/recordings) with values replaced by generated
ones of the wrong type (hypothesis), run through the real parsers, ``finalise`` and the
Parquet writer of ``normalise_window``.
"""

from __future__ import annotations

import copy
import io
import json
from datetime import datetime, timezone
from xml.etree.ElementTree import Element, fromstring, tostring

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.documents import DOCUMENT_SCHEMA, check_types, finalise
from tasks.lake import Lake
from tasks.literature.normalise import normalise_window
from tasks.literature.sources import arxiv, openalex, pubmed
from tasks.literature.sources.replay import RECORDINGS
from tasks.tables import RecordError, Rejected
from tests.openalex_pages import page_body, synthetic_works
from tests.unit.test_hostile_input import land, normalise, quarantine

WORK = orjson.loads((RECORDINGS / "openalex" / "W2741809807.json").read_bytes())
ARXIV_FEED = (RECORDINGS / "arxiv" / "del_maestro_checkerboard.xml").read_bytes()
PUBMED_SET = (RECORDINGS / "pubmed" / "pubmed2.xml").read_bytes()
NOW = datetime(2024, 1, 2, tzinfo=timezone.utc)

# JSON values of every type, for fields that expect another one.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def account(items: list) -> tuple[list[dict], list[str]]:
    """Rows that finalise, and the reasons of everything else: each item is exactly one."""
    rows, reasons = [], []
    for item in items:
        if isinstance(item, Rejected):
            reasons.append(item.reason)
            continue
        try:
            rows.append(finalise(item, run_id="r", ingested_at=NOW, raw_key="raw/k"))
        except RecordError as exc:
            reasons.append(str(exc))
    return rows, reasons


def test_wrongly_typed_openalex_work_is_quarantined_with_its_field_and_the_window_goes_on(tmp_path):
    works = synthetic_works(4)
    works[1]["display_name"] = works[1]["title"] = 42
    works[2]["cited_by_count"] = "12"
    body = page_body(works, None)
    lake = Lake((tmp_path / "lake").as_uri())
    window, _ = land(lake, openalex, httpx.MockTransport(lambda request: httpx.Response(200, content=body)))

    result = normalise(lake, openalex, window)

    assert (result.records, result.quarantined) == (2, 2)
    reasons = sorted(entry["reason"] for entry in quarantine(lake, result))
    assert reasons == ["field 'cited_by_count' must be a 64-bit integer, got str '12'",
                       "field 'title' must be a string, got int"]
    table = pq.read_table(lake.path(result.processed_key), filesystem=lake.fs)
    assert table.column("title").to_pylist() == ["Synthetic work 0", "Synthetic work 3"]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("doi", ["10.1/x"], "field 'doi' must be a string, got list"),
        ("cited_by_count", True, "field 'cited_by_count' must be a 64-bit integer, got bool True"),
        ("cited_by_count", 2**64, "field 'cited_by_count' must be a 64-bit integer"),
        ("publication_date", datetime(2020, 1, 1), "field 'publication_date' must be a date, got datetime"),
        ("updated_at", datetime(2020, 1, 1), "field 'updated_at' must be a timezone-aware datetime"),
        ("topics", ["a", 1], "field 'topics' must be a list of strings"),
        ("authors", [{"name": 3}], "field 'authors' must be a list of {name, orcid, id} string objects"),
        ("referenced_ids", "W1", "field 'referenced_ids' must be a list, got str"),
    ],
)
def test_check_types_names_the_field(field, value, reason):
    [row] = list(openalex.parse_page(page_body([WORK], None)))
    row[field] = value
    with pytest.raises(RecordError) as caught:
        check_types(row)
    assert str(caught.value).startswith(reason)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(sorted(WORK)), json_values, min_size=1, max_size=4))
def test_openalex_type_confused_records_never_fail_the_page(changes):
    works = [copy.deepcopy(WORK), {**copy.deepcopy(WORK), **changes}]
    body = json.dumps({"meta": {}, "results": works}).encode()  # any size of integer, as JSON allows
    rows, reasons = account(list(openalex.parse_page(body)))

    assert len(rows) + len(reasons) == 2 and len(rows) >= 1
    pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA)  # what the Parquet writer does


def _mutated_xml(body: bytes, record_path: str, data) -> bytes:
    """The recording with one element of its first record emptied, retyped, removed or doubled."""
    root = fromstring(body)
    record = root.find(record_path)
    elements = [e for e in record.iter() if e is not record]
    target = data.draw(st.sampled_from(elements))
    parent = next(p for p in record.iter() if target in list(p))
    action = data.draw(st.sampled_from(["text", "remove", "double", "child"]))
    if action == "text":
        target.text = data.draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                                        max_size=30))
    elif action == "remove":
        parent.remove(target)
    elif action == "double":
        parent.insert(list(parent).index(target), copy.deepcopy(target))
    else:
        target.append(Element(target.tag))
    return tostring(root, encoding="utf-8")


@pytest.mark.parametrize(
    ("source", "body", "record_path"),
    [(arxiv, ARXIV_FEED, "{http://www.w3.org/2005/Atom}entry"), (pubmed, PUBMED_SET, "PubmedArticle")],
    ids=["arxiv", "pubmed"],
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_xml_confused_records_never_fail_the_page(source, body, record_path, data):
    expected = len(list(source.parse_page(body)))
    rows, reasons = account(list(source.parse_page(_mutated_xml(body, record_path, data))))

    assert len(rows) + len(reasons) == expected and len(rows) >= expected - 1
    pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA)


def test_every_rejected_row_reaches_quarantine_not_parquet(tmp_path):
    """A window of real works where every other one carries a different wrong type."""
    works = synthetic_works(6)
    wrong = {"publication_date": 20200101, "cited_by_count": 1.5, "doi": {"x": 1}}
    for i, (field, value) in enumerate(wrong.items()):
        works[2 * i + 1][field] = value
    body = page_body(works, None)
    lake = Lake((tmp_path / "lake").as_uri())
    window, _ = land(lake, openalex, httpx.MockTransport(lambda request: httpx.Response(200, content=body)))

    result = normalise_window(openalex, lake, window, ingested_at=NOW, max_bytes=1 << 20)

    assert (result.records, result.quarantined) == (3, 3)
    assert all(e["source_id"] and e["raw_key"] == window.pages[0]["key"] for e in quarantine(lake, result))
    table = pq.read_table(io.BytesIO(lake.get(result.processed_key)))
    assert table.column("title").to_pylist() == ["Synthetic work 0", "Synthetic work 2", "Synthetic work 4"]
