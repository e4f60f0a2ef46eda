"""Embed the documents of the ``scientific_documents`` mart into a vector sink, incrementally.

The sink's stored (model_id, record_hash) per document is the cache: a document is
embedded again only when its content hash or the model changed (or when ``all`` is
asked for). Work goes in chunks (read → embed → upsert), so memory stays bounded and a
run that dies keeps every finished chunk; the next run picks up the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Mapping, Protocol, Sequence

from tasks.embed.backends import EmbeddingBackend, document_text, embed_texts
from tasks.settings import Settings
from tasks.sinks.base import SinkWriteError, VectorRecord, VectorSink
from tasks.warehouse.query import query

log = logging.getLogger(__name__)

MODES = ("changed", "all")


class DocumentSource(Protocol):
    def fingerprints(self) -> list[tuple[str, str]]:
        """(document_id, record_hash) of every document."""

    def fetch(self, document_ids: Sequence[str]) -> list[dict]:
        """document_id, record_hash, title, abstract, url, source, publication_date of these ids."""


class WarehouseDocuments:
    """The ``scientific_documents`` mart in the configured warehouse (DuckDB or Postgres)."""

    _COLUMNS = "document_id, record_hash, title, abstract, url, source, publication_date"

    def __init__(self, settings: Settings):
        self._settings = settings

    def fingerprints(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in query(self._settings, "select document_id, record_hash from {mart}")]

    def fetch(self, document_ids: Sequence[str]) -> list[dict]:
        rows = query(
            self._settings,
            f"select {self._COLUMNS} from {{mart}} where document_id in (select unnest(?))",
            [list(document_ids)],
        )
        names = [c.strip() for c in self._COLUMNS.split(",")]
        return [dict(zip(names, r)) for r in rows]


@dataclass
class EmbedReport:
    model: dict
    documents: int = 0
    embedded: int = 0
    skipped_unchanged: int = 0
    upserted: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def plan(
    documents: Iterable[tuple[str, str]],
    stored: Mapping[str, tuple[str, str]],
    model_id: str,
    mode: str = "changed",
) -> tuple[list[str], int]:
    """(ids to embed, count skipped as unchanged) for a run of ``model_id``."""
    if mode not in MODES:
        raise ValueError(f"documents must be one of {MODES}, not {mode!r}")
    todo, skipped = [], 0
    for document_id, record_hash in documents:
        if mode == "changed" and stored.get(document_id) == (model_id, record_hash):
            skipped += 1
        else:
            todo.append(document_id)
    return todo, skipped


def vector_records(rows: Sequence[dict], backend: EmbeddingBackend, batch_size: int) -> list[VectorRecord]:
    """Embed title + abstract of ``rows``; each record carries the model that made it."""
    info = backend.model
    texts = [document_text(r["title"], r["abstract"], info.max_seq_length) for r in rows]
    vectors = embed_texts(backend, texts, batch_size)
    now = datetime.now(timezone.utc)
    return [
        VectorRecord(
            document_id=r["document_id"], vector=v, model_id=info.model_id, model_name=info.name,
            model_revision=info.revision, record_hash=r["record_hash"], title=r["title"],
            url=r.get("url"), source=r.get("source"), publication_date=r.get("publication_date"),
            embedded_at=now,
        )
        for r, v in zip(rows, vectors, strict=True)
    ]


def embed_documents(
    source: DocumentSource,
    sink: VectorSink,
    backend: EmbeddingBackend,
    *,
    mode: str = "changed",
    batch_size: int = 64,
    chunk_size: int = 2048,
) -> EmbedReport:
    """Embed new/changed (or all) documents and upsert them; stops at the first rejected chunk.

    A rejected chunk is reported in ``failed``/``errors`` rather than raised, so the caller
    can publish the counts before failing the run.
    """
    info = backend.model
    fingerprints = source.fingerprints()
    todo, skipped = plan(fingerprints, sink.fingerprints(), info.model_id, mode)
    report = EmbedReport(model=info.as_dict(), documents=len(fingerprints), skipped_unchanged=skipped)
    log.info("%d documents: %d to embed with %s, %d unchanged", len(fingerprints), len(todo),
             info.model_id, skipped)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        records = vector_records(source.fetch(chunk), backend, batch_size)
        report.embedded += len(records)
        try:
            report.upserted += sink.upsert(records)
        except SinkWriteError as exc:
            report.failed += len(exc.failures)
            report.upserted += len(records) - len(exc.failures)
            report.errors.update(exc.failures)
            log.error("%s", exc)
            break
    sink.finish()
    return report
