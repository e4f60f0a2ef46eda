"""Vector stores behind one small interface (``VectorSink``): LanceDB embedded, Weaviate in a cluster."""

from __future__ import annotations

from pathlib import Path

from tasks.settings import Settings
from tasks.sinks.base import SearchHit, SinkWriteError, VectorRecord, VectorSink, choose_store

__all__ = ["SearchHit", "SinkWriteError", "VectorRecord", "VectorSink", "choose_store",
           "lancedb_uri", "make_sink"]


def lancedb_uri(settings: Settings) -> str:
    return settings.lancedb_uri or str((Path(settings.data_dir) / "lancedb").resolve())


def make_sink(settings: Settings, collection: str | None = None) -> VectorSink:
    """The store the settings choose, holding ``collection`` (default: the documents' one).

    Engines are imported only when chosen."""
    collection = collection or settings.vector_collection
    if choose_store(settings.vector_store, settings.weaviate_url) == "weaviate":
        from tasks.sinks.weaviate_sink import WeaviateSink, connect_weaviate

        if not settings.weaviate_url:
            raise ValueError("KI_VECTOR_STORE=weaviate needs WEAVIATE_URL")
        key = settings.weaviate_api_key.get_secret_value() if settings.weaviate_api_key else None
        client = connect_weaviate(settings.weaviate_url, key, settings.weaviate_grpc_port)
        return WeaviateSink(client, collection, batch_size=settings.weaviate_batch_size)
    from tasks.sinks.lancedb_sink import LanceDBSink

    return LanceDBSink(lancedb_uri(settings), collection,
                       index_min_rows=settings.vector_index_min_rows)
