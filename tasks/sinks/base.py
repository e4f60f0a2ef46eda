"""The small interface every vector store implements, and the record it stores.

A sink is keyed by ``document_id`` (every write is an upsert) and keeps, beside each
vector, the model identity and the document's ``record_hash``: together they are the
embedding cache, so an unchanged document embedded by the same model is never
embedded again, and vectors of different models are never compared in a search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, Sequence

import numpy as np


@dataclass(frozen=True)
class VectorRecord:
    document_id: str
    vector: np.ndarray
    model_id: str
    model_name: str
    model_revision: str
    record_hash: str
    title: str
    url: str | None
    source: str | None
    publication_date: date | None
    embedded_at: datetime


@dataclass(frozen=True)
class SearchHit:
    document_id: str
    title: str
    score: float
    """Cosine similarity, 1.0 for the same direction."""
    url: str | None = None


class SinkWriteError(RuntimeError):
    """Some records were not stored; ``failures`` maps document_id to the store's error."""

    def __init__(self, store: str, failures: dict[str, str]):
        self.failures = failures
        sample = "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:5])
        super().__init__(f"{store} rejected {len(failures)} object(s): {sample}")


class VectorSink(Protocol):
    name: str

    def fingerprints(self) -> dict[str, tuple[str, str]]:
        """document_id → (model_id, record_hash) of every stored vector."""

    def upsert(self, records: Sequence[VectorRecord]) -> int:
        """Insert or replace by document_id; returns how many were written or raises SinkWriteError."""

    def search(self, vector: np.ndarray, k: int, model_id: str) -> list[SearchHit]:
        """Nearest stored documents embedded by ``model_id``."""

    def model_ids(self) -> set[str]:
        """Models whose vectors the store holds (to explain an empty search)."""

    def finish(self) -> None:
        """Called once after a run's upserts (index maintenance)."""

    def close(self) -> None: ...


def choose_store(kind: str, weaviate_url: str | None) -> str:
    """``auto`` means Weaviate when a URL is configured, else the embedded LanceDB."""
    if kind not in {"auto", "lancedb", "weaviate"}:
        raise ValueError(f"vector store must be auto, lancedb or weaviate, not {kind!r}")
    if kind == "auto":
        return "weaviate" if weaviate_url else "lancedb"
    return kind
