"""Where one document came from and where it went: ``knowledge-ingest lineage DOCUMENT_ID``.

Follows the keys each step already records, without recomputing anything: the mart row
names its raw page and run id; the raw key names its window, whose manifest holds the
page's sha256 and the Prefect flow run; the window's Parquet file is found by the same
key scheme the normaliser writes; the vector store and the graph are asked by document id.
"""

from __future__ import annotations

import re
from datetime import date

import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.lake import Lake, lake_from_settings, manifest_key, processed_key
from tasks.settings import Settings
from tasks.warehouse.query import MART, query

_RAW_KEY = re.compile(
    r"^raw/(?P<source>[^/]+)/(?P<entity>[^/]+)/ingest_date=(?P<date>\d{4}-\d{2}-\d{2})/"
    r"(?P<run_id>.+)-\d{5}\.[a-z]+\.gz$"
)
_MART_COLUMNS = ("document_id", "source", "source_id", "title", "updated_at", "record_hash",
                 "run_id", "raw_key", "ingested_at")


class DocumentNotFound(LookupError):
    """The document is not in the mart (not synced yet, or another id convention)."""


def trace(settings: Settings, document_id: str) -> dict:
    """The chain for one document; a step that cannot be followed says why instead of a value."""
    rows = query(settings, f"select {', '.join(_MART_COLUMNS)} from {{mart}} where document_id = ?",
                 [document_id])
    if not rows:
        raise DocumentNotFound(f"{document_id!r} is not in the {MART} mart")
    mart = dict(zip(_MART_COLUMNS, rows[0]))
    chain: dict = {"document_id": document_id,
                   "mart": {"table": MART, **{k: _plain(v) for k, v in mart.items()}}}
    lake = lake_from_settings(settings)
    chain |= _lake_steps(lake, mart["raw_key"], mart["run_id"], document_id)
    chain["vector"] = _vector(settings, document_id)
    chain["graph"] = _graph(settings, document_id)
    return chain


def _lake_steps(lake: Lake, raw_key: str, run_id: str, document_id: str) -> dict:
    found = _RAW_KEY.match(raw_key or "")
    if not found:
        return {"raw": {"key": raw_key, "error": "not a raw page key of this lake layout"}}
    args = (found["source"], found["entity"], date.fromisoformat(found["date"]), found["run_id"])
    m_key = manifest_key(*args)
    manifest = lake.get_json(m_key)
    raw: dict = {"uri": lake.uri(raw_key), "exists": lake.exists(raw_key), "manifest": lake.uri(m_key)}
    if manifest is None:
        raw["error"] = "manifest missing"
    else:
        page = next((p for p in manifest["pages"] if p["key"] == raw_key), None)
        raw |= {"sha256": page["sha256"] if page else None, "window": [manifest["since"], manifest["until"]]}
    run = {"run_id": run_id, "flow_run_id": (manifest or {}).get("flow_run_id")}
    p_key = processed_key(*args)
    parquet: dict = {"uri": lake.uri(p_key)}
    if lake.exists(p_key):
        table = pq.read_table(lake.path(p_key), columns=["document_id"], filesystem=lake.fs)
        parquet["rows_for_document"] = pc.sum(pc.equal(table["document_id"], document_id)).as_py() or 0
    else:
        parquet["error"] = "processed file missing"
    return {"raw": raw, "run": run, "parquet": parquet}


def _vector(settings: Settings, document_id: str) -> dict | None:
    from tasks.sinks import make_sink

    sink = make_sink(settings)
    try:
        found = sink.fingerprints().get(document_id)
    finally:
        sink.close()
    return {"store": sink.name, "id": document_id, "model_id": found[0], "record_hash": found[1]} if found else None


def _graph(settings: Settings, document_id: str) -> dict | None:
    if not settings.neo4j_uri:
        return None
    from tasks.graph import graph_driver
    from tasks.graph.loader import GraphLoader

    node = GraphLoader(graph_driver(settings), database=settings.neo4j_database).work(document_id)
    return {"uri": settings.neo4j_uri, "label": "Work", **node} if node else None


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value
