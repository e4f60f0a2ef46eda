import gzip
from datetime import date

import pytest

from tasks.lake import Lake, LakeError, gunzip_bounded, gzip_bytes, raw_key


def test_raw_key_layout():
    key = raw_key("openalex", "works", date(2024, 5, 1), "20240501-20240502-ab", 7, "json")
    assert key == "raw/openalex/works/ingest_date=2024-05-01/20240501-20240502-ab-00007.json.gz"


def test_gzip_is_deterministic_and_roundtrips():
    body = b'{"results": []}' * 100
    assert gzip_bytes(body) == gzip_bytes(body)
    assert gunzip_bounded(gzip_bytes(body), 10_000) == body


def test_gunzip_refuses_truncated_and_oversized():
    packed = gzip_bytes(b"x" * 50_000)
    with pytest.raises(LakeError, match="truncated"):
        gunzip_bounded(packed[: len(packed) // 2], 1_000_000)
    with pytest.raises(LakeError, match="exceeds"):
        gunzip_bounded(packed, 1_000)
    with pytest.raises(LakeError, match="corrupt"):
        gunzip_bounded(b"not gzip at all", 1_000)


def test_put_is_atomic_and_overwrites(tmp_path):
    lake = Lake(tmp_path.as_uri())
    lake.put("raw/a/b.json.gz", b"one")
    lake.put("raw/a/b.json.gz", b"two")
    assert lake.get("raw/a/b.json.gz") == b"two"
    assert lake.keys("raw") == ["raw/a/b.json.gz"]  # no temp files left behind
    assert gzip.decompress(gzip_bytes(b"two")) == b"two"


def test_get_bounds_size_and_names_missing_keys(tmp_path):
    lake = Lake(tmp_path.as_uri())
    lake.put("k", b"x" * 100)
    with pytest.raises(LakeError, match="larger than"):
        lake.get("k", max_bytes=10)
    with pytest.raises(LakeError, match="missing lake object nope"):
        lake.get("nope")
