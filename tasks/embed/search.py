"""Nearest documents to a free-text question, from the configured vector store."""

from __future__ import annotations

from tasks.embed.backends import LocalBackend
from tasks.sinks.base import SearchHit, VectorSink


class NoVectorsForModel(LookupError):
    """The store holds vectors, but none made by the model this search embeds the query with."""


def search(text: str, sink: VectorSink, backend: LocalBackend, k: int = 10) -> list[SearchHit]:
    """Embed ``text`` with the run's model and return the ``k`` nearest documents of that model.

    Vectors of another model live in another space: comparing them would return noise,
    so a store that only has those raises ``NoVectorsForModel`` naming both models.
    """
    model_id = backend.model.model_id
    hits = sink.search(backend.encode_query(" ".join(text.split())), k, model_id)
    if not hits:
        stored = sink.model_ids()
        if stored and model_id not in stored:
            raise NoVectorsForModel(
                f"the vector store holds vectors of {sorted(stored)}, none of {model_id}: "
                "search with the model the documents were embedded with (KI_EMBED_MODEL)"
            )
    return hits
