"""Generated files (hypothesis): every record is counted once, cleaned or quarantined, and an
event's id depends only on its values, not on the file or the row order."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.elt.dataset import load_dataset
from tasks.elt.engine import ArrowEngine

DATASET = load_dataset("clickstream")
NAMES = DATASET.column_names

# No bare CR inside fields: DuckDB 1.5's CSV state machine refuses a quoted field ending in
# "\r" (the file goes to failed/ with that reason); see the issue 11 note.
text = st.text(alphabet=st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)), max_size=20)
messy_number = st.one_of(st.integers(-5, 10**12).map(str), st.just(""), st.just(" 42 "),
                         st.text(alphabet="0123456789.,-e x", max_size=8))
row = st.fixed_dictionaries({
    "event_time": st.one_of(st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S UTC")),
                            text),
    "event_type": st.sampled_from(["view", "cart", "purchase", "remove_from_cart", "", "View", "click"]),
    "product_id": messy_number, "category_id": messy_number,
    "category_code": text, "brand": text,
    "price": messy_number, "user_id": messy_number, "user_session": text,
})


def write(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=NAMES, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def cleaned_ids(work: Path, name: str, data: bytes):
    source = work / f"{name}.csv"
    source.write_bytes(data)
    result = ArrowEngine().clean(DATASET, source, work / f"{name}.parquet", work / f"{name}.jsonl",
                                 source_key=name)
    ids = duckdb.sql(f"select event_id from '{work / name}.parquet'").fetchall() if result.cleaned else []
    return result, sorted(i for (i,) in ids)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=25))
def test_every_record_is_counted_once_and_ids_follow_the_values(rows):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result, ids = cleaned_ids(work, "a", write(rows))
        assert result.records == len(rows) == result.cleaned + result.quarantined
        again, reversed_ids = cleaned_ids(work, "b", write(rows[::-1]))
        assert (again.cleaned, reversed_ids) == (result.cleaned, ids)
