"""A source that exists only as a YAML string, run end to end: declaration → paged fetch →
raw pages in the lake → Parquet rows → watermark → its staging model → the documents mart, and
the same window again changes nothing.

It is an XML source (arXiv's Atom feed, the real recorded response in
tasks/literature/sources/recordings/arxiv, provenance in its SOURCES.md), so it also shows that XML is
declarable: parsed with defusedxml, namespaces dropped, read through the same paths as JSON.
The registered ``arxiv`` source stays coded; this declaration is not registered anywhere.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import tasks.warehouse.dbt
from tasks.lake import Lake, lake_from_settings
from tasks.literature.landing import land_window
from tasks.literature.normalise import ReconciliationError, normalise_window
from tasks.literature.sources import REGISTRY, SOURCE_NAMES
from tasks.literature.sources.base import SourceError
from tasks.literature.sources.declared import (
    DeclaredSource,
    get_path,
    load_declaration,
    xml_document,
)
from tasks.literature.sources.http import make_client, parse_xml
from tasks.literature.sources.registry import Entry
from tasks.literature.sources.replay import RECORDINGS
from tasks.literature.watermark import StateStore, commit_window, plan_window
from tasks.settings import Settings
from tests.recorded import serve

ATOM = (RECORDINGS / "arxiv" / "del_maestro_checkerboard.xml").read_bytes()
BOMB = (Path(__file__).resolve().parents[1] / "fixtures" / "synthetic" / "billion_laughs.xml").read_bytes()
EMPTY_FEED = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
              b'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
              b'<opensearch:totalResults>0</opensearch:totalResults></feed>')
WINDOW = (date(2006, 3, 1), date(2006, 3, 3))

YAML = """
name: atom_demo
entity: entries
domain: literature
description: arXiv's Atom API, declared in a test.
docs: https://info.arxiv.org/help/api/user-manual.html
schedule: "0 4 * * *"
format: xml
base_url: http://export.arxiv.org
endpoint: /api/query
query_param: search_query
window:
  params: {submittedDate_from: "{since}", submittedDate_to: "{until}"}
paginator: {type: offset, offset_param: start, limit_param: max_results, limit: 100, total_path: feed.totalResults}
records: feed.entry
rate_limits: {per_second: 1000}
mapping:
  source_id: {path: id, pattern: 'abs/(.+?)(?:v\\d+)?$'}
  title: {path: title}
  abstract: {path: summary}
  updated_at: {path: updated, transform: datetime}
  publication_date: {path: published, transform: date}
  doi: {path: doi}
  topics: {path: category.*.@term}
  url: {path: id}
  authors: {path: author, name: [name]}
"""


@pytest.fixture
def source() -> DeclaredSource:
    return DeclaredSource(load_declaration(YAML))


def run(source, lake: Lake, settings: Settings, pages: list[bytes]):
    """One window of ``source`` landed, normalised and committed from ``pages``, in order."""
    store, served, seen = StateStore(lake), iter(pages), []
    state = store.load(source.NAME, "checkerboard")
    window = plan_window(state, *WINDOW, today=WINDOW[1])
    with make_client(settings, transport=serve(lambda request: (200, next(served)), seen)) as client:
        window = land_window(source, client, settings, store, state, window)
    result = normalise_window(source, lake, window, ingested_at=datetime(2026, 12, 7, tzinfo=timezone.utc),
                              max_bytes=settings.max_response_bytes)
    commit_window(state, window)
    store.save(state)
    return result, seen


def test_a_yaml_only_xml_source_lands_normalises_and_reruns_idempotently(source, tmp_path):
    settings = Settings(data_dir=tmp_path, http_max_retries=0)
    lake = Lake(f"file://{tmp_path / 'lake'}")
    result, seen = run(source, lake, settings, [ATOM])

    assert [dict(r.url.params) for r in seen] == [{
        "search_query": "checkerboard", "submittedDate_from": "2006-03-01", "submittedDate_to": "2006-03-02",
        "start": "0", "max_results": "100"}]
    assert (result.pages, result.records_landed, result.records, result.quarantined) == (1, 1, 1, 0)
    raw = lake.fs.glob(lake.path("raw/atom_demo/entries/*/*.gz"))
    assert len(raw) == 1 and raw[0].endswith("-00000.xml.gz")
    rows = pq.read_table(lake.fs.open(lake.path(result.processed_key), "rb")).to_pylist()
    [row] = rows
    # arxiv:doi gives the DOI, so the id is the DOI's: the same document as Crossref's copy.
    assert row["document_id"] == "doi:10.1103/physrevb.74.024520" and row["source_id"] == "cond-mat/0603029"
    assert row["title"].startswith("From stripe to checkerboard order on the square lattice")
    assert row["abstract"].startswith("We discuss the effects of quenched disorder")
    assert row["updated_at"] == datetime(2006, 3, 2, 2, 22, 45, tzinfo=timezone.utc)
    assert row["publication_date"] == date(2006, 3, 2)
    assert [a["name"] for a in row["authors"]] == ["Adrian Del Maestro", "Bernd Rosenow", "Subir Sachdev"]
    assert row["topics"] == ["cond-mat.str-el", "cond-mat.supr-con"]
    assert row["url"] == "http://arxiv.org/abs/cond-mat/0603029v1"

    before = {k: lake.fs.info(k)["size"] for k in lake.fs.find(lake.path("processed"))}
    again, _ = run(source, lake, settings, [ATOM])
    assert again.processed_key == result.processed_key
    assert pq.read_table(lake.fs.open(lake.path(again.processed_key), "rb")).to_pylist() == rows
    assert {k: lake.fs.info(k)["size"] for k in lake.fs.find(lake.path("processed"))} == before


def test_an_xml_page_without_entries_is_an_empty_last_page(source, tmp_path):
    settings = Settings(data_dir=tmp_path, http_max_retries=0)
    result, seen = run(source, Lake(f"file://{tmp_path / 'lake'}"), settings, [EMPTY_FEED])
    assert len(seen) == 1 and (result.records_landed, result.records, result.quarantined) == (0, 0, 0)


def test_hostile_xml_fails_the_fetch_before_any_entity_expands(source, tmp_path):
    settings = Settings(data_dir=tmp_path, http_max_retries=0)
    with pytest.raises(SourceError, match="refused hostile XML"):
        run(source, Lake(f"file://{tmp_path / 'lake'}"), settings, [BOMB])


def test_xml_document_keeps_attributes_text_and_repeats():
    doc = xml_document(parse_xml(b'<r xmlns:x="urn:x"><x:n a="1">t</x:n><n>u</n><m/></r>', "t"))
    assert doc == {"r": {"n": [{"@a": "1", "#text": "t"}, "u"], "m": None}}
    assert get_path(doc, "r.n.*.@a") == ["1"] and get_path(doc, "r.m") is None


def test_a_record_the_parser_loses_fails_the_window_instead_of_vanishing(source, tmp_path):
    """Reconciliation: landed records = rows + quarantined, or nothing is published."""
    class Lossy(DeclaredSource):
        def parse_page(self, body):
            return iter(())

    settings = Settings(data_dir=tmp_path, http_max_retries=0)
    lake = Lake(f"file://{tmp_path / 'lake'}")
    with pytest.raises(ReconciliationError, match="held 1 records, but 0 rows were written"):
        run(Lossy(source.declaration), lake, settings, [ATOM])
    assert not lake.fs.glob(lake.path("processed/atom_demo/**"))


def test_the_yaml_only_source_reaches_the_documents_mart_through_its_staging_model(source, tmp_path, monkeypatch):
    """What a user adds besides the YAML: one staging model. Registered here for this test only
    (a copy of the dbt project, the registry extended), dbt builds it into scientific_documents."""
    project = tmp_path / "dbt"
    shutil.copytree(tasks.warehouse.dbt.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models/staging/atom_demo").mkdir()
    (project / "models/staging/atom_demo/stg_atom_demo__documents.sql").write_text(
        "{{ staged_documents('atom_demo') }}\n")
    monkeypatch.setattr(tasks.warehouse.dbt, "DBT_PROJECT_DIR", project)
    monkeypatch.setattr(tasks.warehouse.dbt, "REGISTRY", (*REGISTRY, Entry(source, "literature", "declared", 1000, None, "0 4 * * *")))
    monkeypatch.setattr(tasks.warehouse.dbt, "SOURCE_NAMES", (*SOURCE_NAMES, source.NAME))
    settings = Settings(data_dir=tmp_path, http_max_retries=0)
    run(source, lake_from_settings(settings), settings, [ATOM])

    assert tasks.warehouse.dbt.run_dbt(settings, ["build", "--select", "+scientific_documents", "--indirect-selection", "cautious"]).success
    with duckdb.connect(str(settings.duckdb_file), read_only=True) as con:
        got = con.sql("select document_id, source, source_id, title, publication_date from scientific_documents"
                      ).fetchall()
    assert got == [("doi:10.1103/physrevb.74.024520", "atom_demo", "cond-mat/0603029",
                    "From stripe to checkerboard order on the square lattice in the presence\n  of quenched disorder",
                    date(2006, 3, 2))]
