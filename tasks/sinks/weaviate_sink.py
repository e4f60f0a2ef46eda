"""Weaviate (client v4): the cluster vector store.

The collection is created when missing with explicit properties and no vectorizer (the
vectors come from our own model). Object ids are ``generate_uuid5(document_id)``, so
every import is an upsert. Any object the server rejects fails the write with the
server's message: a partial import is never reported as success.

Verified only against a fake client here (no Weaviate server can run on these machines).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timezone
from typing import Sequence
from urllib.parse import urlsplit

import numpy as np

from tasks.sinks.base import SearchHit, SinkWriteError, VectorRecord

log = logging.getLogger(__name__)


def collection_properties() -> list:
    """The stored properties; identifiers use FIELD tokenization so filters match them exactly."""
    from weaviate.classes.config import DataType, Property, Tokenization

    def key(name: str) -> Property:
        return Property(name=name, data_type=DataType.TEXT, tokenization=Tokenization.FIELD,
                        index_searchable=False)

    return [
        key("document_id"),
        key("model_id"),
        key("model_name"),
        key("model_revision"),
        key("record_hash"),
        key("source"),
        Property(name="title", data_type=DataType.TEXT),
        key("url"),
        Property(name="publication_date", data_type=DataType.DATE),
        Property(name="embedded_at", data_type=DataType.DATE),
    ]


def connect_weaviate(url: str, api_key: str | None, grpc_port: int):
    """A v4 client for ``http(s)://host:port``; gRPC on the same host, TLS like the HTTP side."""
    import weaviate
    from weaviate.classes.init import Auth

    parts = urlsplit(url)
    secure = parts.scheme == "https"
    return weaviate.connect_to_custom(
        http_host=parts.hostname, http_port=parts.port or (443 if secure else 80), http_secure=secure,
        grpc_host=parts.hostname, grpc_port=grpc_port, grpc_secure=secure,
        auth_credentials=Auth.api_key(api_key) if api_key else None,
    )


def _rfc3339(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class WeaviateSink:
    name = "weaviate"

    def __init__(self, client, collection: str, *, batch_size: int = 200):
        self._client, self.collection_name, self.batch_size = client, collection, batch_size
        self._collection = None

    def _ensure_collection(self):
        if self._collection is None:
            from weaviate.classes.config import Configure, VectorDistances

            collections = self._client.collections
            if not collections.exists(self.collection_name):
                log.info("creating Weaviate collection %s", self.collection_name)
                collections.create(
                    self.collection_name,
                    properties=collection_properties(),
                    vector_config=Configure.Vectors.self_provided(
                        vector_index_config=Configure.VectorIndex.hnsw(
                            distance_metric=VectorDistances.COSINE)),
                )
            self._collection = collections.get(self.collection_name)
        return self._collection

    def upsert(self, records: Sequence[VectorRecord]) -> int:
        from weaviate.util import generate_uuid5

        if not records:
            return 0
        collection = self._ensure_collection()
        by_uuid = {}
        with collection.batch.fixed_size(batch_size=self.batch_size) as batch:
            for r in records:
                uuid = generate_uuid5(r.document_id)
                by_uuid[str(uuid)] = r.document_id
                batch.add_object(
                    properties={
                        "document_id": r.document_id,
                        "model_id": r.model_id,
                        "model_name": r.model_name,
                        "model_revision": r.model_revision,
                        "record_hash": r.record_hash,
                        "source": r.source,
                        "title": r.title,
                        "url": r.url,
                        "publication_date": _rfc3339(r.publication_date),
                        "embedded_at": _rfc3339(r.embedded_at),
                    },
                    uuid=uuid,
                    vector=np.asarray(r.vector, dtype=np.float32).tolist(),
                )
        failed = collection.batch.failed_objects
        if failed:
            failures = {
                by_uuid.get(str(f.object_.uuid), str(f.object_.uuid)): f.message for f in failed
            }
            raise SinkWriteError(f"Weaviate collection {self.collection_name}", failures)
        return len(records)

    def fingerprints(self) -> dict[str, tuple[str, str]]:
        if not self._client.collections.exists(self.collection_name):
            return {}
        collection = self._ensure_collection()
        return {
            o.properties["document_id"]: (o.properties["model_id"], o.properties["record_hash"])
            for o in collection.iterator(return_properties=["document_id", "model_id", "record_hash"])
        }

    def model_ids(self) -> set[str]:
        return {model for model, _ in self.fingerprints().values()}

    def search(self, vector: np.ndarray, k: int, model_id: str) -> list[SearchHit]:
        from weaviate.classes.query import Filter, MetadataQuery

        if not self._client.collections.exists(self.collection_name):
            return []
        result = self._ensure_collection().query.near_vector(
            near_vector=np.asarray(vector, dtype=np.float32).tolist(),
            limit=k,
            filters=Filter.by_property("model_id").equal(model_id),
            return_metadata=MetadataQuery(distance=True),
            return_properties=["document_id", "title", "url"],
        )
        return [
            SearchHit(o.properties["document_id"], o.properties["title"],
                      1.0 - float(o.metadata.distance), o.properties.get("url"))
            for o in result.objects
        ]

    def finish(self) -> None:
        """Weaviate indexes on write (HNSW); nothing to do after a run."""

    def close(self) -> None:
        self._client.close()
