"""elt-ingest over s3:// (a moto server) and gs:// (gcp-storage-emulator), both started by the
suite: polling and notifications name the same files, which end in processed/ with their marts."""

from __future__ import annotations

import gzip

import boto3
import pytest

from flows.elt_ingest import elt_ingest
from tasks.elt.dataset import CLICKSTREAM_SAMPLE
from tasks.lake import Lake
from tests.gcs_emulator import disable_hns_probe, gcs_emulator, gcs_storage_options, make_bucket
from tests.integration.elt.helpers import COMPARED_COLUMNS, duckdb_rows, expected

SAMPLE = CLICKSTREAM_SAMPLE.read_bytes()


@pytest.fixture(scope="module")
def gcs_endpoint(tmp_path_factory):
    disable_hns_probe()
    with gcs_emulator(tmp_path_factory.mktemp("gcs")) as url:
        yield url


def s3_record(bucket: str, key: str) -> dict:
    return {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key.replace(" ", "+")}}}


def test_s3_lake_by_notification_then_by_polling(elt_settings, s3_endpoint, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint,
                        "KI_LAKE_URL": "s3://ki-elt/lake"}.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="ki-elt")
    lake = Lake("s3://ki-elt/lake", endpoint_url=s3_endpoint)
    lake.put("landing/clickstream/oct sample.csv", SAMPLE)
    lake.put("landing/clickstream/later.csv.gz", gzip.compress(SAMPLE))

    notified = elt_ingest(notification={"Records": [s3_record("ki-elt", "lake/landing/clickstream/oct sample.csv"),
                                                    s3_record("elsewhere", "lake/landing/clickstream/x.csv")]})
    assert (notified["files"], notified["done"], notified["ignored"], notified["new_events"]) == (1, 1, 1, 1000)
    assert lake.keys("landing") == ["landing/clickstream/later.csv.gz"]  # not named: still waiting

    polled = elt_ingest()
    assert (polled["files"], polled["done"], polled["new_events"]) == (1, 1, 0)
    assert lake.keys("landing") == []
    [report] = polled["reports"]
    assert lake.exists(f"processed/clickstream/files/{report['file_id']}-later.csv.gz.manifest.json")
    assert lake.exists(report["key"].replace("landing/clickstream/later.csv.gz",
                                             f"processed/clickstream/parquet/{report['file_id']}.parquet"))
    for mart, columns in COMPARED_COLUMNS.items():
        assert duckdb_rows(elt_settings, mart, columns) == expected(mart), mart


def test_gs_lake_by_pubsub_notification(elt_settings, gcs_endpoint, monkeypatch):
    make_bucket(gcs_endpoint, "ki-elt-gs")
    monkeypatch.setenv("KI_LAKE_URL", "gs://ki-elt-gs/lake")
    monkeypatch.setenv("KI_GCS_ENDPOINT_URL", gcs_endpoint)
    lake = Lake("gs://ki-elt-gs/lake", **gcs_storage_options(gcs_endpoint))
    lake.put("landing/clickstream/sample.csv", SAMPLE)
    info = lake.info("landing/clickstream/sample.csv")
    assert info.get("generation")  # the version the claim is keyed by

    body = {"message": {"attributes": {"bucketId": "ki-elt-gs", "objectId": "lake/landing/clickstream/sample.csv",
                                       "eventType": "OBJECT_FINALIZE"}, "messageId": "1"}}
    summary = elt_ingest(notification=body)
    assert (summary["done"], summary["new_events"], summary["reconciles"]) == (1, 1000, True)
    assert lake.keys("landing") == []
    assert any(k.endswith("-sample.csv.manifest.json") for k in lake.keys("processed/clickstream/files"))
    for mart, columns in COMPARED_COLUMNS.items():
        assert duckdb_rows(elt_settings, mart, columns) == expected(mart), mart
