"""embed-documents: vectors for the ``scientific_documents`` mart, into the configured vector store."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from tasks.embed.backends import choose_backend
from tasks.embed.tasks import embed_and_upsert, resolve_embedding_model, start_backend
from tasks.settings import load_settings
from tasks.sinks import make_sink


class VectorStoreRejected(RuntimeError):
    """The vector store refused some objects; the artifact of the run lists how many."""


@flow(name="embed-documents")
def embed_documents(
    documents: Literal["changed", "all"] = "changed",
    backend: Literal["auto", "local", "ray", "ray-gpu", "ray-cpu"] | None = None,
    model: str | None = None,
) -> dict:
    """Embed new and changed documents (``all`` re-embeds every one).

    ``backend`` and ``model`` override KI_EMBED_BACKEND / KI_EMBED_MODEL for this run
    (``ray-gpu`` asks Ray for GPU actors even while its GPU workers are scaled to zero).
    A model change re-embeds everything, because the cache is keyed by the model too.
    """
    logger = get_run_logger()
    settings = load_settings()
    info = resolve_embedding_model(settings, model)
    sink = make_sink(settings)
    engine = start_backend(settings, info, backend)
    try:
        report = embed_and_upsert(settings, engine, sink, documents)
    finally:
        engine.close()
        sink.close()

    summary = {
        "documents": report.documents,
        "embedded": report.embedded,
        "skipped_unchanged": report.skipped_unchanged,
        "upserted": report.upserted,
        "failed": report.failed,
        "model_id": report.model["model_id"],
        "model_requested": report.model["requested"],
        "model_fallback_reason": report.model["fallback_reason"] or "",
        "dimension": report.model["dimension"],
        "backend": choose_backend(backend or settings.embed_backend, settings.ray_address),
        "vector_store": sink.name,
        "mode": documents,
    }
    create_table_artifact(
        key="embed-documents",
        table=[{"metric": k, "value": str(v)} for k, v in summary.items()],
        description=f"embed-documents with {summary['model_id']} into {sink.name}",
    )
    logger.info("embed-documents done: %s", summary)
    if report.failed:
        sample = "; ".join(f"{k}: {v}" for k, v in list(report.errors.items())[:5])
        raise VectorStoreRejected(f"{report.failed} document(s) rejected by {sink.name}: {sample}")
    return summary
