"""The Spark engine (local[2]) against the arrow engine: the same counts and reasons, the same
Parquet schema and rows, the same quarantine records, on the real REES46 sample and on a file
of hostile rows built from it."""

from __future__ import annotations

import orjson
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed: the spark extra (make setup) provides it")

from tasks.elt.dataset import CLICKSTREAM_SAMPLE, load_dataset  # noqa: E402
from tasks.elt.engine import ArrowEngine, Unreadable, engine  # noqa: E402
from tasks.elt.spark_engine import SparkEngine, java_pattern, spark_session  # noqa: E402

MASTER = "local[2]"
DATASET = load_dataset("clickstream").model_copy(update={"max_line_bytes": 4096})
LINES = CLICKSTREAM_SAMPLE.read_bytes().splitlines(keepends=True)
HEADER, ROWS = LINES[0], LINES[1:]


@pytest.fixture(scope="session")
def spark():
    """One JVM for the module's tests (~10 s to start); stopped afterwards."""
    session = spark_session(MASTER, None)
    yield session
    session.stop()
    spark_session.cache_clear()


def field(row: bytes, position: int, value: bytes) -> bytes:
    parts = row.rstrip(b"\r\n").split(b",")
    parts[position] = value
    return b",".join(parts) + b"\n"


def hostile() -> bytes:
    """40 real rows with bad numbers, bad event types, duplicates, missing and malformed fields."""
    rows = list(ROWS[:40])
    edits = [
        (2, 6, b"twelve"), (3, 6, b"-1.00"), (4, 2, b"12ab"), (5, 2, b"1.5"), (6, 2, b"1_000"),
        (7, 3, b"1e3"), (8, 6, b"1.005"), (9, 6, b"123456789012.5"), (10, 7, b"0"), (11, 7, b" 42 "),
        (12, 1, b"wishlist"), (13, 1, b"View"), (14, 1, b""), (15, 0, b""), (16, 0, b"yesterday"),
        (17, 0, b"2019-13-45 99:00:00 UTC"), (18, 0, b"2019-10-01T10:20:30Z"),
        (19, 0, b"2019-10-01T10:20:30.25Z"), (20, 0, b"2019-10-01 10:20:30"), (21, 6, b""),
        (22, 7, b"-5"), (23, 3, b""), (24, 4, b'"phones, and ""more""\nsecond line"'),
        (25, 2, b"9223372036854775808"), (26, 6, b"0x10"), (27, 2, b"0x10"),
    ]
    for index, position, value in edits:
        rows[index] = field(rows[index], position, value)
    rows[28] = rows[28].rstrip(b"\n") + b",surplus\n"
    rows[29] = rows[29].rsplit(b",", 1)[0] + b"\n"
    rows[30] = rows[30].rstrip(b"\n") + b"x" * 5000 + b"\n"
    rows[31] = field(rows[31], 1, b"click")
    rows += [rows[0], rows[0], rows[1]]  # exact duplicates: cleaned both times, with one event id
    return HEADER + b"".join(rows)


def both(tmp_path, data: bytes):
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    out = {}
    for name, eng in (("arrow", ArrowEngine()), ("spark", SparkEngine(MASTER))):
        result = eng.clean(DATASET, source, tmp_path / f"{name}.parquet", tmp_path / f"{name}.jsonl",
                           source_key="landing/clickstream/in.csv")
        quarantine = [orjson.loads(line) for line in (tmp_path / f"{name}.jsonl").read_bytes().splitlines()]
        out[name] = result, pq.read_table(tmp_path / f"{name}.parquet"), quarantine
    return out["arrow"], out["spark"]


def assert_same(arrow, spark):
    (a_result, a_table, a_quarantine), (s_result, s_table, s_quarantine) = arrow, spark
    assert s_result == a_result
    assert s_table.schema.equals(a_table.schema)  # names, types, nullability (not Spark's metadata)
    order = [("event_id", "ascending"), ("user_session", "ascending")]
    assert s_table.sort_by(order).equals(a_table.sort_by(order))
    assert s_quarantine == a_quarantine


def test_the_real_sample_cleans_to_the_same_parquet(spark, tmp_path):
    arrow, spark_out = both(tmp_path, CLICKSTREAM_SAMPLE.read_bytes())
    assert_same(arrow, spark_out)
    assert spark_out[0].cleaned == 1000 and spark_out[1].num_rows == 1000


def test_hostile_rows_are_cleaned_and_quarantined_alike(spark, tmp_path):
    arrow, spark_out = both(tmp_path, hostile())
    assert_same(arrow, spark_out)
    result, table, quarantine = spark_out
    assert result.quarantined >= 15 and result.records == 43
    assert {"TOO MANY COLUMNS", "MISSING COLUMNS", "LINE SIZE OVER MAXIMUM", "price: below minimum",
            "event_type: not an allowed value", "event_time: missing"} <= set(result.reasons)
    assert table.num_rows - len(set(table.column("event_id").to_pylist())) == 3  # the appended copies


def test_bom_and_crlf_read_alike(spark, tmp_path):
    data = b"\xef\xbb\xbf" + (HEADER + b"".join(ROWS[:30])).replace(b"\n", b"\r\n")
    arrow, spark_out = both(tmp_path, data)
    assert_same(arrow, spark_out)
    assert spark_out[0].cleaned == 30


def test_a_header_only_file_is_an_empty_batch(spark, tmp_path):
    arrow, spark_out = both(tmp_path, HEADER)
    assert_same(arrow, spark_out)
    assert spark_out[0].records == 0


def test_an_unreadable_file_is_refused_before_spark_reads_it(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(HEADER.replace(b"price", b"cost") + ROWS[0])
    with pytest.raises(Unreadable, match=r"lacks declared column\(s\) \['price'\]"):
        SparkEngine(MASTER).clean(DATASET, source, tmp_path / "o.parquet", tmp_path / "q.jsonl", source_key="k")


def test_the_engine_is_chosen_by_name_and_reads_its_master_from_settings(monkeypatch):
    monkeypatch.setenv("KI_SPARK_MASTER", "local[1]")
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    chosen = engine("spark")
    assert isinstance(chosen, SparkEngine) and (chosen.master, chosen.remote) == ("local[1]", None)


def test_strptime_formats_become_java_patterns():
    """Every literal is quoted: a bare letter would be a Java pattern letter ("T", "Z", "UTC")."""
    assert java_pattern("%Y-%m-%d %H:%M:%S UTC") == "yyyy'-'MM'-'dd' 'HH':'mm':'ss' UTC'"
    assert java_pattern("%d.%m.%Y o'clock") == "dd'.'MM'.'yyyy' o''clock'"
    with pytest.raises(ValueError, match="%a"):
        java_pattern("%a %Y")
