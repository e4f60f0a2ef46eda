"""LanceDB: the embedded default vector store, a folder under the data dir (or an object-store URI).

Writes are ``merge_insert`` on document_id, so re-running a load replaces rows instead
of duplicating them. Small tables are searched exactly (flat scan); once the table
reaches ``index_min_rows`` an IVF-PQ cosine index is built, and later loads fold new
rows into it with ``optimize``.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pyarrow as pa

from tasks.sinks.base import SearchHit, VectorRecord

log = logging.getLogger(__name__)

_META_COLUMNS = ["document_id", "model_id", "record_hash"]


def _schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("document_id", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("model_name", pa.string()),
        pa.field("model_revision", pa.string()),
        pa.field("record_hash", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("url", pa.string()),
        pa.field("source", pa.string()),
        pa.field("publication_date", pa.date32()),
        pa.field("embedded_at", pa.timestamp("us", tz="UTC")),
    ])


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LanceDBSink:
    name = "lancedb"

    def __init__(self, uri: str, table: str, *, index_min_rows: int = 100_000):
        import lancedb

        self.uri, self.table_name, self.index_min_rows = uri, table, index_min_rows
        self._db = lancedb.connect(uri)

    def _table(self):
        try:
            return self._db.open_table(self.table_name)
        except ValueError as exc:
            if "not found" in str(exc):
                return None
            raise

    def fingerprints(self) -> dict[str, tuple[str, str]]:
        table = self._table()
        if table is None:
            return {}
        rows = table.search().select(_META_COLUMNS).limit(None).to_arrow().to_pydict()
        return {d: (m, h) for d, m, h in zip(rows["document_id"], rows["model_id"], rows["record_hash"])}

    def model_ids(self) -> set[str]:
        table = self._table()
        if table is None:
            return set()
        return set(table.search().select(["model_id"]).limit(None).to_arrow().column("model_id").to_pylist())

    def upsert(self, records: Sequence[VectorRecord]) -> int:
        if not records:
            return 0
        dim = len(records[0].vector)
        data = self._arrow(records, dim)
        table = self._table()
        if table is None:
            table = self._db.create_table(self.table_name, schema=_schema(dim), exist_ok=True)
        stored = table.schema.field("vector").type.list_size
        if stored != dim:
            raise ValueError(
                f"LanceDB table {self.table_name!r} at {self.uri} holds {stored}-dim vectors; model "
                f"{records[0].model_id} gives {dim}: set KI_VECTOR_COLLECTION to a new table name"
            )
        (table.merge_insert("document_id").when_matched_update_all()
         .when_not_matched_insert_all().execute(data))
        return len(records)

    def finish(self) -> None:
        """After a run's upserts: build the index once the table is large enough, else refresh it."""
        from lancedb.index import IvfPq

        table = self._table()
        if table is None:
            return
        indexed = any(ix.columns == ["vector"] for ix in table.list_indices())
        if indexed:
            table.optimize()
        elif table.count_rows() >= self.index_min_rows:
            log.info("building the vector index of %s (%d rows)", self.table_name, table.count_rows())
            table.create_index("vector", config=IvfPq(distance_type="cosine"))

    @staticmethod
    def _arrow(records: Sequence[VectorRecord], dim: int) -> pa.Table:
        flat = np.concatenate([np.asarray(r.vector, dtype=np.float32).reshape(-1) for r in records])
        if flat.size != dim * len(records):
            raise ValueError("vectors in one upsert must share one dimension")
        columns = {
            "document_id": [r.document_id for r in records],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim),
            "model_id": [r.model_id for r in records],
            "model_name": [r.model_name for r in records],
            "model_revision": [r.model_revision for r in records],
            "record_hash": [r.record_hash for r in records],
            "title": [r.title for r in records],
            "url": [r.url for r in records],
            "source": [r.source for r in records],
            "publication_date": [r.publication_date for r in records],
            "embedded_at": [r.embedded_at for r in records],
        }
        return pa.table(columns, schema=_schema(dim))

    def search(self, vector: np.ndarray, k: int, model_id: str) -> list[SearchHit]:
        table = self._table()
        if table is None:
            return []
        rows = (table.search(np.asarray(vector, dtype=np.float32)).distance_type("cosine")
                .where(f"model_id = {_quote(model_id)}", prefilter=True)
                .select(["document_id", "title", "url", "_distance"]).limit(k).to_list())
        return [SearchHit(r["document_id"], r["title"], 1.0 - float(r["_distance"]), r["url"]) for r in rows]

    def close(self) -> None:
        self._db = None
