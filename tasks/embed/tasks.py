"""Thin Prefect wrappers around the embedding cores (the flow wires these)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.embed.backends import EmbeddingBackend, make_backend
from tasks.embed.model import ModelInfo, resolve_model
from tasks.embed.pipeline import EmbedReport, WarehouseDocuments, embed_documents
from tasks.settings import Settings
from tasks.sinks import VectorSink


@task(name="resolve-embedding-model", cache_policy=NO_CACHE)
def resolve_embedding_model(settings: Settings, model: str | None = None) -> ModelInfo:
    """The model this run uses; a fallback is logged as a warning here, in the run's log."""
    info = resolve_model(model or settings.embed_model, settings.embed_offline_model,
                         allow_fallback=settings.embed_allow_fallback)
    logger = get_run_logger()
    if info.fallback_reason:
        logger.warning("model %s is unavailable (%s): embedding with the offline model %s",
                       info.requested, info.fallback_reason, info.model_id)
    else:
        logger.info("embedding with %s", info.model_id)
    return info


@task(name="start-embedding-backend", cache_policy=NO_CACHE)
def start_backend(settings: Settings, info: ModelInfo, backend: str | None = None) -> EmbeddingBackend:
    return make_backend(backend or settings.embed_backend, info, ray_address=settings.ray_address,
                        ray_actors=settings.embed_ray_actors)


@task(name="embed-documents", cache_policy=NO_CACHE)
def embed_and_upsert(settings: Settings, backend: EmbeddingBackend, sink: VectorSink,
                     mode: str = "changed") -> EmbedReport:
    report = embed_documents(WarehouseDocuments(settings), sink, backend, mode=mode,
                             batch_size=settings.embed_batch_size, chunk_size=settings.embed_chunk_size)
    get_run_logger().info("embedded %d, skipped %d unchanged, upserted %d, failed %d",
                          report.embedded, report.skipped_unchanged, report.upserted, report.failed)
    return report
