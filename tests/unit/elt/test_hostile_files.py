"""Hostile files through the arrow engine: each bad record quarantined with its line and
reason, each unreadable file refused with a reason, and the rest of the data intact.
Every file here is synthetic, built from rows of the real REES46 sample."""

from __future__ import annotations

import gzip

import duckdb
import orjson
import pytest

from tasks.elt.dataset import CLICKSTREAM_SAMPLE, load_dataset
from tasks.elt.engine import ArrowEngine, Unreadable
from tasks.elt.files import UNREADABLE_ERRORS, LandedFile, fetch
from tasks.lake import Lake

DATASET = load_dataset("clickstream").model_copy(update={"max_line_bytes": 4096})
LINES = CLICKSTREAM_SAMPLE.read_bytes().splitlines(keepends=True)
HEADER, ROWS = LINES[0], LINES[1:21]


def clean(tmp_path, data: bytes):
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    result = ArrowEngine().clean(DATASET, source, tmp_path / "out.parquet", tmp_path / "q.jsonl",
                                 source_key="landing/clickstream/in.csv")
    quarantined = [orjson.loads(line) for line in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    cleaned = duckdb.sql(f"select * from '{tmp_path / 'out.parquet'}'").fetchall() if result.cleaned else []
    assert result.records == result.cleaned + result.quarantined == len(cleaned) + len(quarantined)
    return result, quarantined, cleaned


def with_row(index: int, row: bytes) -> bytes:
    """The 20 sample rows with row ``index`` (line index + 2) replaced."""
    rows = list(ROWS)
    rows[index] = row
    return HEADER + b"".join(rows)


def field(row: bytes, position: int, value: bytes) -> bytes:
    parts = row.rstrip(b"\r\n").split(b",")
    parts[position] = value
    return b",".join(parts) + b"\n"


@pytest.mark.parametrize(("position", "value", "reason"), [
    (0, b"2019-13-45 99:00:00 UTC", "event_time: not a timestamp"),
    (0, b"yesterday", "event_time: not a timestamp"),
    (0, b"", "event_time: missing"),
    (6, b"-1.00", "price: below minimum"),
    (6, b"twelve", "price: not a decimal(12,2)"),
    (1, b"wishlist", "event_type: not an allowed value"),
    (2, b"12ab", "product_id: not a bigint"),
])
def test_a_bad_value_quarantines_its_row_only(tmp_path, position, value, reason):
    result, quarantined, cleaned = clean(tmp_path, with_row(4, field(ROWS[4], position, value)))
    assert (result.cleaned, result.quarantined) == (19, 1)
    [bad] = quarantined
    assert bad["line"] == 6 and bad["file"] == "landing/clickstream/in.csv"
    assert reason in bad["reason"]
    assert bad["raw"]["event_type"] is not None  # the record as read, for a human to fix


@pytest.mark.parametrize(("row", "reason"), [
    (ROWS[7].rstrip(b"\n") + b",surplus\n", "TOO MANY COLUMNS"),
    (ROWS[7].rsplit(b",", 1)[0] + b"\n", "MISSING COLUMNS"),
    (ROWS[7].rstrip(b"\n") + b"x" * 5000 + b"\n", "LINE SIZE OVER MAXIMUM"),
])
def test_a_malformed_record_is_quarantined_with_its_line(tmp_path, row, reason):
    result, quarantined, _ = clean(tmp_path, with_row(7, row))
    assert (result.cleaned, result.quarantined) == (19, 1)
    assert quarantined[0]["line"] == 9 and reason in quarantined[0]["reason"]


def test_bom_crlf_quoted_commas_and_newlines_are_read_as_the_standard_says(tmp_path):
    quoted = field(ROWS[3], 5, b'"acme, inc.\nwest ""wing"""')
    data = b"\xef\xbb\xbf" + with_row(3, quoted).replace(b"\n", b"\r\n")
    result, quarantined, cleaned = clean(tmp_path, data)
    assert (result.cleaned, result.quarantined) == (20, 0), quarantined
    brands = {row[5] for row in cleaned}
    assert 'acme, inc.\r\nwest "wing"' in brands
    assert cleaned[0][0].year == 2019  # the BOM did not end up in the first column's name


def test_a_record_is_located_by_its_number_with_the_header_as_line_one(tmp_path):
    """DuckDB numbers records, not physical lines: a quoted newline does not shift the count."""
    rows = list(ROWS)
    rows[2] = field(ROWS[2], 5, b'"two\nlines"')
    rows[5] = field(ROWS[5], 6, b"-5")
    result, quarantined, _ = clean(tmp_path, HEADER + b"".join(rows))
    assert [q["line"] for q in quarantined] == [7]


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "0 bytes"),
    (b"\n\n", "first line is empty"),
    (HEADER.replace(b"price", b"cost") + b"".join(ROWS), "lacks declared column(s) ['price']"),
    (b"".join(ROWS), "lacks declared column"),  # no header at all: the first row is not one
    (HEADER.rstrip(b"\n") + b",referrer\n" + b"".join(ROWS), "undeclared column(s) ['referrer']"),
    (with_row(3, ROWS[3].replace(b",view,", b",vi\xffew,")), "not UTF-8: byte"),
    (HEADER.replace(b"brand", b"br\xe9nd"), "not UTF-8"),
])
def test_an_unreadable_file_is_refused_with_its_reason(tmp_path, data, reason):
    with pytest.raises(Unreadable, match=None) as refused:
        clean(tmp_path, data)
    assert reason in str(refused.value)


def test_a_header_only_file_is_an_empty_batch_not_an_error(tmp_path):
    result, _, _ = clean(tmp_path, HEADER)
    assert (result.records, result.cleaned, result.quarantined) == (0, 0, 0)


def test_a_truncated_gzip_cannot_be_fetched(tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    whole = gzip.compress(HEADER + b"".join(ROWS))
    lake.put("landing/clickstream/cut.csv.gz", whole[: len(whole) // 2])
    landed = LandedFile("clickstream", "landing/clickstream/cut.csv.gz", len(whole) // 2, "1")
    with pytest.raises(UNREADABLE_ERRORS):
        fetch(lake, landed, tmp_path, max_bytes=1 << 20)


def test_a_gzip_file_is_read_like_the_plain_one(tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    lake.put("landing/clickstream/ok.csv.gz", gzip.compress(HEADER + b"".join(ROWS)))
    landed = LandedFile("clickstream", "landing/clickstream/ok.csv.gz", 1, "1")
    plain = fetch(lake, landed, tmp_path, max_bytes=1 << 20)
    assert plain.read_bytes() == HEADER + b"".join(ROWS)
