"""elt-ingest: landed files → cleaned Parquet → warehouse (write-audit-publish) → sinks → processed/.

Started three ways that share this one code path: by the polling deployment (every
file waiting in landing/), by the object-created automation (the files a store's
notification names), and by ``knowledge-ingest elt run --once``.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from tasks.elt.pipeline import Context
from tasks.elt.tasks import discover_files, ingest_file
from tasks.elt.warehouse import mart_rows
from tasks.elt.dataset import load_dataset
from tasks.settings import load_settings


class IngestFailed(RuntimeError):
    """Some files failed or must be retried; the others were processed."""


@flow(name="elt-ingest")
def elt_ingest(notification: Any = None, datasets: list[str] | None = None) -> dict:
    """Ingest the files of ``notification`` (an S3 / GCS object-created body) or, without
    one, every file waiting in ``landing/<dataset>/`` of ``datasets`` (default: all)."""
    settings = load_settings()
    ctx = Context.open(settings, str(flow_run.id or uuid.uuid4()))
    try:
        found = discover_files(ctx, notification, datasets)
        reports = [ingest_file(ctx, landed) for landed in found.files]
    finally:
        ctx.ledger.close()
    totals = {key: sum(getattr(r, key) for r in reports)
              for key in ("records", "cleaned", "quarantined", "loaded", "new_events")}
    outcomes = {o: sum(r.outcome == o for r in reports) for o in ("done", "failed", "retry", "skipped")}
    marts = {f"{name}.{m}": n for name in sorted({r.dataset for r in reports if r.outcome == "done"})
             for m, n in mart_rows(settings, load_dataset(name)).items()}
    summary = {"run_id": ctx.run_id, "files": len(reports), **outcomes, **totals,
               "ignored": len(found.ignored), "reconciles": all(r.reconciles for r in reports), **marts}
    create_table_artifact(
        key="elt-ingest",
        table=[{"metric": k, "value": str(v)} for k, v in summary.items()]
        + [{"metric": f"file {r.key}", "value": f"{r.outcome}: read {r.records} = loaded {r.loaded} + "
            f"quarantined {r.quarantined}; new events {r.new_events}; sinks {r.sinks}"
            + (f"; {r.detail}" if r.detail else "")} for r in reports],
        description=f"elt-ingest {summary['files']} file(s)",
    )
    get_run_logger().info("elt-ingest done: %s", summary)
    bad = [r for r in reports if r.outcome in ("failed", "retry")]
    if bad:
        raise IngestFailed("; ".join(f"{r.key}: {r.outcome}: {r.detail}" for r in bad))
    return summary | {"reports": [r.__dict__ for r in reports]}
