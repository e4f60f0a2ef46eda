"""What the Weaviate sink sends, checked at the weaviate-client v4 API boundary.

No Weaviate server can run on these machines: a fake client records the calls the
sink makes (collections.exists/create/get, batch.fixed_size → add_object,
batch.failed_objects, query.near_vector). Unverified against a live server.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timezone
from types import SimpleNamespace

import numpy as np
import pytest
from weaviate.classes.config import Tokenization, VectorDistances
from weaviate.collections.classes.batch import BatchObject, ErrorObject
from weaviate.collections.classes.config_vectorizers import Vectorizers
from weaviate.util import generate_uuid5

from tasks.settings import Settings
from tasks.sinks import make_sink
from tasks.sinks.base import SinkWriteError, VectorRecord
from tasks.sinks.weaviate_sink import WeaviateSink


class FakeBatch:
    def __init__(self, collection):
        self.collection = collection

    def add_object(self, properties=None, references=None, uuid=None, vector=None):
        self.collection.sent.append({"properties": properties, "uuid": uuid, "vector": vector})
        return uuid


class FakeCollection:
    def __init__(self, reject: dict[str, str] | None = None):
        self.sent: list[dict] = []
        self.batch_sizes: list[int] = []
        self.reject = reject or {}
        self.batch = SimpleNamespace(fixed_size=self._fixed_size, failed_objects=[])
        self.query = SimpleNamespace(near_vector=self._near_vector)
        self.queries: list[dict] = []

    @contextmanager
    def _fixed_size(self, batch_size=100, concurrent_requests=2):
        self.batch_sizes.append(batch_size)
        self.batch.failed_objects = []
        yield FakeBatch(self)
        # what the client does on leaving the context: collect the server's per-object errors
        self.batch.failed_objects = [
            ErrorObject(message=self.reject[o["properties"]["document_id"]],
                        object_=BatchObject(collection="ScientificDocument", properties=o["properties"],
                                            uuid=o["uuid"], vector=o["vector"], index=i))
            for i, o in enumerate(self.sent) if o["properties"]["document_id"] in self.reject
        ]

    def _near_vector(self, **kwargs):
        self.queries.append(kwargs)
        hit = SimpleNamespace(properties={"document_id": "doi:10.1/x", "title": "X", "url": None},
                              metadata=SimpleNamespace(distance=0.25))
        return SimpleNamespace(objects=[hit])

    def iterator(self, return_properties=None):
        for o in self.sent:
            yield SimpleNamespace(properties={k: o["properties"][k] for k in return_properties})


class FakeClient:
    def __init__(self, collection: FakeCollection, exists: bool = False):
        self.collection, self.exists, self.created, self.closed = collection, exists, [], False
        self.collections = SimpleNamespace(exists=self._exists, create=self._create, get=self._get)

    def _exists(self, name):
        return self.exists

    def _create(self, name, **kwargs):
        self.created.append((name, kwargs))
        self.exists = True
        return self.collection

    def _get(self, name):
        return self.collection

    def close(self):
        self.closed = True


def record(document_id: str, seed: int) -> VectorRecord:
    vector = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return VectorRecord(document_id, vector / np.linalg.norm(vector), "minilm@abc", "minilm", "abc" * 8,
                        f"hash-{seed}", f"Title {seed}", "https://doi.org/10.1/x", "openalex",
                        date(2018, 2, 13), datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_missing_collection_is_created_with_explicit_properties_and_no_vectorizer():
    client = FakeClient(FakeCollection())
    WeaviateSink(client, "ScientificDocument").upsert([record("doi:10.7717/peerj.4375", 1)])

    [(name, kwargs)] = client.created
    assert name == "ScientificDocument"
    props = {p.name: p for p in kwargs["properties"]}
    assert set(props) == {"document_id", "model_id", "model_name", "model_revision", "record_hash",
                          "source", "title", "url", "publication_date", "embedded_at"}
    assert props["document_id"].tokenization == Tokenization.FIELD  # exact-match filters
    assert props["model_id"].tokenization == Tokenization.FIELD
    vectors = kwargs["vector_config"]
    assert vectors.vectorizer.vectorizer == Vectorizers.NONE
    assert vectors.vectorIndexConfig.distance == VectorDistances.COSINE
    assert "vectorizer_config" not in kwargs


def test_existing_collection_is_not_recreated():
    client = FakeClient(FakeCollection(), exists=True)
    WeaviateSink(client, "ScientificDocument").upsert([record("arxiv:2202.06271", 1)])
    assert client.created == []


def test_batch_carries_the_deterministic_uuid_and_the_vector():
    collection = FakeCollection()
    sink = WeaviateSink(FakeClient(collection), "ScientificDocument", batch_size=50)
    records = [record("doi:10.7717/peerj.4375", 1), record("arxiv:2202.06271", 2)]

    assert sink.upsert(records) == 2
    sink.upsert(records[:1])  # a re-run sends the same id: an upsert, not a duplicate

    assert collection.batch_sizes == [50, 50]
    first, second, again = collection.sent
    assert first["uuid"] == generate_uuid5("doi:10.7717/peerj.4375") == again["uuid"]
    assert second["uuid"] == generate_uuid5("arxiv:2202.06271")
    assert first["vector"] == pytest.approx(records[0].vector.tolist())
    assert isinstance(first["vector"], list) and len(first["vector"]) == 384
    assert first["properties"]["document_id"] == "doi:10.7717/peerj.4375"
    assert first["properties"]["model_id"] == "minilm@abc"
    assert first["properties"]["record_hash"] == "hash-1"
    assert first["properties"]["publication_date"] == datetime(2018, 2, 13, tzinfo=timezone.utc)


def test_failed_objects_raise_with_their_errors():
    collection = FakeCollection(reject={"arxiv:2202.06271": "vector lengths don't match: 384 vs 768"})
    sink = WeaviateSink(FakeClient(collection), "ScientificDocument")
    with pytest.raises(SinkWriteError, match="384 vs 768") as caught:
        sink.upsert([record("doi:10.7717/peerj.4375", 1), record("arxiv:2202.06271", 2)])
    assert caught.value.failures == {"arxiv:2202.06271": "vector lengths don't match: 384 vs 768"}


def test_fingerprints_and_search_filter_on_the_model():
    collection = FakeCollection()
    sink = WeaviateSink(FakeClient(collection, exists=True), "ScientificDocument")
    sink.upsert([record("doi:10.7717/peerj.4375", 1)])
    assert sink.fingerprints() == {"doi:10.7717/peerj.4375": ("minilm@abc", "hash-1")}

    [hit] = sink.search(np.ones(384, dtype=np.float32), 5, "minilm@abc")
    assert (hit.document_id, hit.score) == ("doi:10.1/x", 0.75)
    [query] = collection.queries
    assert query["limit"] == 5
    assert query["filters"].target == "model_id" and query["filters"].value == "minilm@abc"


def test_settings_choose_weaviate_with_the_api_key(monkeypatch):
    import weaviate

    calls = []
    monkeypatch.setattr(weaviate, "connect_to_custom", lambda **kw: calls.append(kw) or FakeClient(None))
    monkeypatch.setenv("WEAVIATE_URL", "https://weaviate.example.internal:8443")
    monkeypatch.setenv("WEAVIATE_API_KEY", "s3cret")
    monkeypatch.setenv("KI_VECTOR_STORE", "auto")
    sink = make_sink(Settings())

    assert sink.name == "weaviate" and sink.collection_name == "ScientificDocument"
    [kw] = calls
    assert (kw["http_host"], kw["http_port"], kw["http_secure"]) == ("weaviate.example.internal", 8443, True)
    assert (kw["grpc_port"], kw["grpc_secure"]) == (50051, True)
    assert kw["auth_credentials"].api_key == "s3cret"
