"""The lake on s3:// (a local moto S3 server): landing, Parquet, quarantine and state, re-run safe."""

from datetime import date

import boto3
import pyarrow.parquet as pq
import pytest

from flows.literature_sync import literature_sync
from tasks.lake import Lake
from tasks.literature.sources.replay import RECORDINGS


@pytest.fixture
def s3_lake(s3_endpoint, monkeypatch, tmp_path) -> Lake:
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in creds.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="ki-lake")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("KI_LAKE_URL", "s3://ki-lake/knowledge")
    monkeypatch.setenv("KI_DATA_DIR", str(tmp_path))
    return Lake("s3://ki-lake/knowledge", endpoint_url=s3_endpoint)


def test_sync_to_s3_lake_is_complete_and_idempotent(s3_lake, prefect_api):
    args = dict(source="arxiv", since=date(2000, 1, 1), until=date(2026, 1, 1),
                replay_dir=str(RECORDINGS), build_marts=False)
    first = literature_sync(**args)
    keys = s3_lake.keys("")
    second = literature_sync(**args)

    assert (first["pages"], first["records"], first["quarantined"]) == (2, 11, 0)
    assert s3_lake.keys("") == keys  # same objects, nothing added by the re-run
    run = first["run_id"]
    assert keys == sorted([
        f"processed/arxiv/articles/ingest_date=2000-01-01/{run}.parquet",
        f"raw/arxiv/articles/ingest_date=2000-01-01/{run}-00000.xml.gz",
        f"raw/arxiv/articles/ingest_date=2000-01-01/{run}-00001.xml.gz",
        f"raw/arxiv/articles/ingest_date=2000-01-01/{run}-manifest.json",
        "state/arxiv/all.json",
    ])
    table = pq.read_table(s3_lake.path(keys[0]), filesystem=s3_lake.fs)
    assert table.num_rows == 11 == second["records"]
    assert s3_lake.get_json("state/arxiv/all.json")["watermark"] == "2026-01-01"
