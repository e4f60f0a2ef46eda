"""Embeddings with the real packaged MiniLM on the fixture documents, into a real LanceDB."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest

from tasks.embed.backends import (RayBackend, choose_backend, document_text, embed_texts,
                                  length_sorted_batches)
from tasks.embed.model import ModelUnavailable, resolve_model
from tasks.embed.pipeline import WarehouseDocuments, embed_documents, plan
from tasks.embed.search import NoVectorsForModel, search
from tasks.sinks import lancedb_uri, make_sink
from tasks.sinks.base import SinkWriteError, VectorRecord
from tasks.settings import Settings
from tasks.sinks.lancedb_sink import LanceDBSink
from tests.unit.embed.fixture_docs import revise, write_mart

PACKAGED = Settings.model_fields["embed_offline_model"].default


def stored(sink: LanceDBSink):
    return sink._table().to_arrow().sort_by("document_id").to_pydict()


def test_vectors_are_unit_normalised_floats_of_the_model_dimension(settings, backend, documents):
    sink = make_sink(settings)
    report = embed_documents(WarehouseDocuments(settings), sink, backend, batch_size=4)

    assert (report.documents, report.embedded, report.upserted, report.failed) == (14, 14, 14, 0)
    rows = stored(sink)
    vectors = np.array(rows["vector"])
    assert vectors.shape == (14, 384) == (len(documents), backend.model.dimension)
    assert sink._table().schema.field("vector").type.value_type == "float"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert sorted(rows["document_id"]) == sorted(d["document_id"] for d in documents)
    # every vector names the model (and its weights) that made it
    assert set(rows["model_id"]) == {backend.model.model_id}
    assert set(rows["model_revision"]) == {backend.model.revision}
    assert report.model["model_id"] == backend.model.model_id


def test_second_run_embeds_nothing_and_a_changed_document_only_itself(settings, backend, documents):
    sink = make_sink(settings)
    embed_documents(WarehouseDocuments(settings), sink, backend)
    again = embed_documents(WarehouseDocuments(settings), sink, backend)
    assert (again.embedded, again.skipped_unchanged, again.upserted) == (0, 14, 0)

    changed = [revise(d, abstract="A corrected abstract.") if i == 3 else d for i, d in enumerate(documents)]
    write_mart(settings.duckdb_file, changed)
    third = embed_documents(WarehouseDocuments(settings), sink, backend)
    assert (third.embedded, third.skipped_unchanged) == (1, 13)
    assert dict(zip(stored(sink)["document_id"], stored(sink)["record_hash"]))[
        changed[3]["document_id"]] == changed[3]["record_hash"]
    assert len(sink.fingerprints()) == 14


def test_all_mode_re_embeds_unchanged_documents(settings, backend):
    sink = make_sink(settings)
    embed_documents(WarehouseDocuments(settings), sink, backend)
    report = embed_documents(WarehouseDocuments(settings), sink, backend, mode="all")
    assert (report.embedded, report.skipped_unchanged, len(sink.fingerprints())) == (14, 0, 14)


def test_changing_the_model_id_re_embeds_everything(settings, backend):
    sink = make_sink(settings)
    embed_documents(WarehouseDocuments(settings), sink, backend)
    renamed = replace(backend.model, name="the-same-weights-under-another-name")
    other = type("Renamed", (), {"model": renamed, "encode_batches": backend.encode_batches})()

    report = embed_documents(WarehouseDocuments(settings), sink, other)

    assert (report.embedded, report.skipped_unchanged) == (14, 0)
    assert set(stored(sink)["model_id"]) == {renamed.model_id}
    # and the next run with that model is incremental again
    assert embed_documents(WarehouseDocuments(settings), sink, other).embedded == 0


def test_unreachable_model_falls_back_loudly_and_is_recorded(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    with caplog.at_level(logging.WARNING, logger="tasks.embed.model"):
        info = resolve_model("allenai/scibert_scivocab_uncased", PACKAGED)
    assert info.requested == "allenai/scibert_scivocab_uncased"
    assert info.name == PACKAGED and info.model_id.startswith(f"{PACKAGED}@")
    assert "allenai/scibert_scivocab_uncased" in info.fallback_reason
    assert any("using offline model" in r.getMessage() for r in caplog.records)

    with pytest.raises(ModelUnavailable, match="scibert"):
        resolve_model("allenai/scibert_scivocab_uncased", PACKAGED, allow_fallback=False)


def test_model_identity_is_its_weights(tmp_path, minilm):
    by_path = resolve_model(minilm.path, None)
    assert by_path.revision == minilm.revision and by_path.fallback_reason is None
    copy = tmp_path / "model"
    copy.mkdir()
    (copy / "model.safetensors").write_bytes(b"other weights")
    assert resolve_model(str(copy), None).revision != minilm.revision


def test_ray_actor_pool_gives_the_same_vectors_as_in_process(backend, documents):
    ray = pytest.importorskip("ray")
    texts = [document_text(d["title"], d["abstract"], 256) for d in documents]
    local = embed_texts(backend, texts, batch_size=4)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        pool = RayBackend(backend.model, num_actors=2)
        try:
            remote = embed_texts(pool, texts, batch_size=4)
            assert pool.model.model_id == backend.model.model_id
        finally:
            pool.close()
    finally:
        ray.shutdown()
    assert remote.dtype == np.float32 and remote.shape == local.shape
    np.testing.assert_allclose(remote, local, atol=1e-5)


def test_search_from_a_title_returns_that_document_first(settings, backend, documents):
    sink = make_sink(settings)
    embed_documents(WarehouseDocuments(settings), sink, backend)
    for doc in documents:
        hits = search(doc["title"], sink, backend, k=3)
        assert hits[0].document_id == doc["document_id"], (doc["title"], hits)
        assert hits[0].title == doc["title"] and 0 < hits[0].score <= 1.0001
        assert hits[0].score >= hits[1].score


def test_search_refuses_to_compare_vectors_of_another_model(settings, backend):
    sink = make_sink(settings)
    embed_documents(WarehouseDocuments(settings), sink, backend)
    other = type("Other", (), {"model": replace(backend.model, name="another-model"),
                               "encode_query": backend.encode_query})()
    with pytest.raises(NoVectorsForModel, match="another-model"):
        search("software testing", sink, other)


def test_lancedb_upsert_twice_leaves_one_row_per_document(settings, backend, documents):
    sink = make_sink(settings)
    embed_documents(WarehouseDocuments(settings), sink, backend)
    first = stored(sink)
    report = embed_documents(WarehouseDocuments(settings), sink, backend, mode="all")
    rows = stored(sink)
    assert report.upserted == 14
    assert len(rows["document_id"]) == len(set(rows["document_id"])) == len(documents)
    np.testing.assert_allclose(np.array(rows["vector"]), np.array(first["vector"]), atol=1e-6)
    assert str(settings.data_dir.resolve()) in lancedb_uri(settings)


def test_lancedb_builds_its_index_once_large_enough(tmp_path):
    rng = np.random.default_rng(7)
    sink = LanceDBSink(str(tmp_path / "lance"), "docs", index_min_rows=300)
    now = datetime.now(timezone.utc)

    def records(start, n):
        return [VectorRecord(f"doc:{i}", rng.normal(size=32).astype(np.float32), "m@1", "m", "1", "h",
                             f"title {i}", None, None, None, now) for i in range(start, start + n)]

    sink.upsert(records(0, 200))
    sink.finish()
    assert sink._table().list_indices() == []
    sink.upsert(records(200, 200))
    sink.finish()
    assert [ix.columns for ix in sink._table().list_indices()] == [["vector"]]
    probe = records(5, 1)[0]
    assert sink.search(probe.vector, 1, "m@1")[0].document_id  # index answers


def test_a_rejected_chunk_is_counted_and_stops_the_run(settings, backend):
    class Rejecting(LanceDBSink):
        def upsert(self, records):
            raise SinkWriteError("test store", {records[0].document_id: "vector dimension mismatch"})

    sink = Rejecting(lancedb_uri(settings), "docs")
    report = embed_documents(WarehouseDocuments(settings), sink, backend, chunk_size=5)
    assert (report.embedded, report.upserted, report.failed) == (5, 4, 1)
    assert list(report.errors.values()) == ["vector dimension mismatch"]


def test_text_is_title_and_abstract_bounded_by_the_model_length():
    assert document_text("  A  title\n", None, 256) == "A title"
    assert document_text("T", "  an\n abstract ", 256) == "T\nan abstract"
    assert len(document_text("T", "word " * 10_000, 256)) == 256 * 12


def test_batches_are_sorted_by_length_and_cover_every_text():
    texts = ["aa", "a", "aaaa", "aaa", "aaaaa"]
    batches = length_sorted_batches(texts, 2)
    assert batches == [[4, 2], [3, 0], [1]]


def test_plan_skips_only_same_model_and_same_hash():
    stored_ = {"a": ("m@1", "h1"), "b": ("m@1", "old"), "c": ("m@0", "h3")}
    docs = [("a", "h1"), ("b", "h2"), ("c", "h3"), ("d", "h4")]
    assert plan(docs, stored_, "m@1") == (["b", "c", "d"], 1)
    assert plan(docs, stored_, "m@1", "all") == (["a", "b", "c", "d"], 0)
    with pytest.raises(ValueError):
        plan(docs, stored_, "m@1", "new")


def test_backend_choice_follows_the_settings():
    assert choose_backend("auto", None) == "local"
    assert choose_backend("auto", "ray://head:10001") == "ray"
    assert choose_backend("ray-gpu", None) == "ray-gpu"
    with pytest.raises(ValueError, match="embed backend"):
        choose_backend("spark", None)
