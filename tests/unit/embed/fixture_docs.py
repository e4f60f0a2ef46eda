"""Normalised document rows from the recorded API responses in tasks/literature/sources/recordings.

Parsed by the project's own source parsers and finalised like the sync does, so the
rows (and their record_hash) are what the ``scientific_documents`` mart holds after the
demo. Shared by the embedding unit tests and the graph integration tests.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.documents import DOCUMENT_SCHEMA, finalise
from tasks.literature.sources import arxiv, openalex, pubmed
from tasks.literature.sources.replay import RECORDINGS
from tasks.tables import Rejected

INGESTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def fixture_documents() -> list[dict]:
    """The 14 documents of the OpenAlex, arXiv and PubMed recordings."""
    pages = [
        ("openalex/W2741809807.json",
         [openalex.parse_work(json.loads((RECORDINGS / "openalex/W2741809807.json").read_bytes()))]),
        ("arxiv/del_maestro_checkerboard.xml",
         arxiv.parse_page((RECORDINGS / "arxiv/del_maestro_checkerboard.xml").read_bytes())),
        ("arxiv/q_testing_s10_m10_34e56e15aaac.json",
         arxiv.parse_page(json.loads((RECORDINGS / "arxiv/q_testing_s10_m10_34e56e15aaac.json")
                                     .read_text())["body"].encode())),
        ("pubmed/pubmed2.xml", pubmed.parse_page((RECORDINGS / "pubmed/pubmed2.xml").read_bytes())),
    ]
    rows = []
    for key, parsed in pages:
        for row in parsed:
            assert not isinstance(row, Rejected), row
            rows.append(finalise(row, run_id="fixture", ingested_at=INGESTED_AT, raw_key=key))
    return rows


def revise(row: dict, **changes) -> dict:
    """A new version of ``row`` with ``changes``, re-finalised (new record_hash)."""
    content = {k: v for k, v in row.items() if k not in ("record_hash", "run_id", "ingested_at", "raw_key")}
    return finalise(content | changes, run_id="revised", ingested_at=INGESTED_AT, raw_key=row["raw_key"])


def write_mart(path: Path, rows: list[dict], table: str = "scientific_documents") -> None:
    """``rows`` as ``main.<table>`` of the DuckDB file at ``path`` (replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA)
    with duckdb.connect(str(path)) as con:
        con.register("incoming", arrow)
        con.execute(f"create or replace table main.{table} as select * from incoming")
