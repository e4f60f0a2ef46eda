"""elt-ingest on the embedded defaults (local lake, DuckDB): the real REES46 sample end to end,
re-deliveries, hostile files beside good ones, and write-audit-publish."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from flows.elt_ingest import IngestFailed, elt_ingest
from tasks.elt.dataset import CLICKSTREAM_SAMPLE, load_dataset
from tasks.elt.sinks import VectorTextSink
from tests.integration.elt.helpers import (
    COMPARED_COLUMNS,
    MARTS,
    PRODUCTS_WITH_TEXT,
    drop,
    duckdb_rows,
    expected,
)

LINES = CLICKSTREAM_SAMPLE.read_bytes().splitlines(keepends=True)


def lake_files(settings, prefix: str) -> list[str]:
    root = Path(settings.lake_root.removeprefix("file://"))
    return sorted(str(p.relative_to(root)) for p in (root / prefix).rglob("*") if p.is_file())


def snapshot(settings) -> dict[str, list[tuple]]:
    return {mart: duckdb_rows(settings, mart) for mart in MARTS}


def test_the_real_sample_matches_an_independent_computation(elt_settings):
    drop(elt_settings, "2019-Oct-sample.csv")
    summary = elt_ingest()

    assert (summary["files"], summary["done"], summary["records"]) == (1, 1, 1000)
    assert (summary["cleaned"], summary["quarantined"], summary["loaded"], summary["new_events"]) == \
        (1000, 0, 1000, 1000)
    assert summary["reconciles"] is True
    for mart, columns in COMPARED_COLUMNS.items():
        assert duckdb_rows(elt_settings, mart, columns) == expected(mart), mart
    with duckdb.connect(str(elt_settings.duckdb_file)) as con:
        assert con.execute("select count(*), count(distinct event_id) from clickstream.events").fetchone() \
            == (1000, 1000)
        raw_types = duckdb.sql(f"select event_type, count(*) from '{CLICKSTREAM_SAMPLE}' group by 1").fetchall()
        assert sorted(con.execute("select event_type, count(*) from clickstream.events group by 1").fetchall()) \
            == sorted(raw_types)
        assert con.execute("select count(*) from elt_staging.clickstream").fetchone()[0] == 0  # published
    [report] = summary["reports"]
    manifest = json.loads(Path(elt_settings.lake_root.removeprefix("file://"), report["key"].replace(
        "landing/clickstream/", f"processed/clickstream/files/{report['file_id']}-") + ".manifest.json")
        .read_bytes())
    assert (manifest["records"], manifest["cleaned"], manifest["loaded"], manifest["run_id"]) == \
        (1000, 1000, 1000, summary["run_id"])
    assert lake_files(elt_settings, "landing") == []
    assert lake_files(elt_settings, "processed/clickstream/parquet") == \
        [f"processed/clickstream/parquet/{report['file_id']}.parquet"]


def test_redelivery_under_any_name_changes_no_mart(elt_settings):
    drop(elt_settings, "a.csv")
    elt_ingest()
    before = snapshot(elt_settings)
    drop(elt_settings, "a.csv")  # the same name again: a new upload
    drop(elt_settings, "copy-of-a.csv.gz", gzip.compress(CLICKSTREAM_SAMPLE.read_bytes()))
    again = elt_ingest()
    assert (again["done"], again["loaded"], again["new_events"]) == (2, 2000, 0)
    assert snapshot(elt_settings) == before
    assert [r["sinks"]["vector"] for r in again["reports"]] == [0, 0]  # unchanged text is not re-embedded
    assert VectorTextSink(elt_settings, load_dataset("clickstream")).count() == len(PRODUCTS_WITH_TEXT)


def test_the_same_event_in_two_files_counts_once(elt_settings):
    header, rows = LINES[0], LINES[1:]
    drop(elt_settings, "first.csv", header + b"".join(rows[:600]))
    drop(elt_settings, "second.csv", header + b"".join(rows[400:]))  # rows 400..599 in both
    summary = elt_ingest()
    assert (summary["loaded"], summary["new_events"]) == (1200, 1000)
    for mart, columns in COMPARED_COLUMNS.items():
        assert duckdb_rows(elt_settings, mart, columns) == expected(mart), mart


def test_hostile_files_are_quarantined_or_failed_and_the_rest_lands(elt_settings):
    header, rows = LINES[0], LINES[1:]
    bad_row = rows[10].replace(b",view,", b",view,", 1).rsplit(b",", 4)
    bad_price = b",".join([bad_row[0], bad_row[1], b"-3.00", *bad_row[3:]])
    drop(elt_settings, "mixed.csv", header + b"".join(rows[:10]) + bad_price + b"".join(rows[11:]))
    drop(elt_settings, "empty.csv", b"")
    drop(elt_settings, "cut.csv.gz", gzip.compress(CLICKSTREAM_SAMPLE.read_bytes())[:2000])
    drop(elt_settings, "latin1.csv", header + rows[0].replace(b"shiseido", b"shis\xe9ido"))
    with pytest.raises(IngestFailed) as failed:
        elt_ingest()
    for name in ("empty.csv", "cut.csv.gz", "latin1.csv"):
        assert name in str(failed.value)
    failed_files = lake_files(elt_settings, "failed/clickstream")
    assert len(failed_files) == 6 and sum(f.endswith(".reason.json") for f in failed_files) == 3
    reasons = {Path(f).name.split("-", 1)[1]: json.loads(Path(elt_settings.lake_root.removeprefix("file://"), f)
                                                          .read_bytes())["detail"]
               for f in failed_files if f.endswith(".reason.json")}
    assert "0 bytes" in reasons["empty.csv.reason.json"]
    assert "EOFError" in reasons["cut.csv.gz.reason.json"] or "BadGzip" in reasons["cut.csv.gz.reason.json"]
    assert "not UTF-8" in reasons["latin1.csv.reason.json"]
    [quarantine] = lake_files(elt_settings, "quarantine/clickstream")
    [record] = [json.loads(line) for line in
                Path(elt_settings.lake_root.removeprefix("file://"), quarantine).read_bytes().splitlines()]
    assert (record["line"], record["reason"], record["file"]) == (12, "price: below minimum",
                                                                   "landing/clickstream/mixed.csv")
    with duckdb.connect(str(elt_settings.duckdb_file)) as con:
        assert con.execute("select count(*) from clickstream.events").fetchone()[0] == 999


def test_a_file_that_breaks_a_dbt_test_leaves_production_unchanged(elt_settings):
    drop(elt_settings, "good.csv")
    elt_ingest()
    db_bytes_before = snapshot(elt_settings)
    # A new event in an existing session, by another user: session_has_one_user fails.
    header, first = LINES[0], LINES[1].split(b",")
    intruder = b",".join([b"2019-10-01 00:05:00 UTC", *first[1:7], b"999999999", first[8]])
    drop(elt_settings, "intruder.csv", header + intruder)

    with pytest.raises(IngestFailed, match="session_has_one_user"):
        elt_ingest()
    assert snapshot(elt_settings) == db_bytes_before
    # The audited build is kept for inspection, with the intruder merged into its events.
    assert len(duckdb_rows(elt_settings, "events", schema="clickstream__wap")) == 1001
    [reason] = [f for f in lake_files(elt_settings, "failed/clickstream") if f.endswith(".reason.json")]
    assert "session_has_one_user" in Path(elt_settings.lake_root.removeprefix("file://"), reason).read_text()
    assert lake_files(elt_settings, "landing") == []
