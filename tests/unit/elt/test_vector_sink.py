"""Which text the vector sink embeds for each entity of a file (the embedding itself is tested
end to end in tests/integration/elt)."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from tasks.elt.dataset import Dataset, load_dataset
from tasks.elt.sinks import VectorTextSink
from tasks.settings import Settings


def parquet(tmp_path, rows: list[dict]) -> str:
    path = tmp_path / "clean.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def event(product_id: int, minute: int, category_code: str | None, brand: str | None) -> dict:
    return {"event_time": datetime(2019, 10, 1, 0, minute), "product_id": product_id,
            "category_code": category_code, "brand": brand}


def test_one_entity_per_key_with_the_text_of_its_latest_event(tmp_path):
    sink = VectorTextSink(Settings(), load_dataset("clickstream"))
    path = parquet(tmp_path, [
        event(7, 1, "electronics.smartphone", "samsung"),
        event(7, 5, "electronics.smartphone", "apple"),  # latest: wins
        event(7, 3, None, "xiaomi"),
        event(8, 2, None, "lenovo"),                      # one column missing: the other is the text
        event(9, 2, None, None),                          # no text: nothing to embed
    ])
    entities = sink.entities(path)
    assert [(e["document_id"], e["title"]) for e in entities] == [
        ("clickstream:7", "electronics.smartphone apple"), ("clickstream:8", "lenovo")]
    assert entities[0]["record_hash"] != VectorTextSink(Settings(), load_dataset("clickstream")).entities(
        parquet(tmp_path, [event(7, 1, "electronics.smartphone", "samsung")]))[0]["record_hash"]


def test_the_choice_does_not_depend_on_row_order(tmp_path):
    sink = VectorTextSink(Settings(), load_dataset("clickstream"))
    rows = [event(7, 1, "a", "x"), event(7, 1, "b", "y")]  # the same time: the greater text
    assert sink.entities(parquet(tmp_path, rows)) == sink.entities(parquet(tmp_path, rows[::-1]))


def test_a_vector_sink_must_name_declared_columns():
    declared = load_dataset("clickstream").model_dump(by_alias=True)
    declared["sinks"]["vector"]["text"] = ["title"]
    with pytest.raises(ValidationError, match="undeclared column"):
        Dataset.model_validate(declared)
