"""graph-load: the dbt graph marts into Neo4j (NEO4J_URI), new and changed documents by default."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from tasks.graph import graph_driver
from tasks.graph.loader import GraphLoader
from tasks.graph.tasks import ensure_graph_schema, load_graph, select_graph_rows
from tasks.settings import load_settings


@flow(name="graph-load")
def graph_load(documents: Literal["changed", "all"] = "changed") -> dict:
    """Load the graph of documents whose record_hash differs from the one last loaded.

    ``all`` re-loads every document (idempotent: MERGE on ids, stale edges removed).
    """
    logger = get_run_logger()
    settings = load_settings()
    summary: dict = {"mode": documents, "failed": 0}
    try:
        loader = GraphLoader(graph_driver(settings), database=settings.neo4j_database,
                             batch_size=settings.graph_batch_size)
        summary["schema"] = ensure_graph_schema(loader)
        rows, skipped = select_graph_rows(settings, loader, documents)
        summary |= {"documents": len(rows.documents), "skipped_unchanged": skipped}
        try:
            report = load_graph(loader, rows)
        except Exception:
            # Nothing of this run is marked loaded: the next run retries all of it.
            summary["failed"] = len(rows.documents)
            raise
        summary |= {
            "nodes_upserted": report.nodes,
            "edges_upserted": report.edges,
            "nodes_created": report.nodes_created,
            "relationships_created": report.relationships_created,
            "relationships_deleted": report.relationships_deleted,
            "nodes_deleted": report.nodes_deleted,
        }
    finally:
        create_table_artifact(
            key="graph-load",
            table=[{"metric": k, "value": str(v)} for k, v in summary.items()],
            description=f"graph-load ({documents})",
        )
        logger.info("graph-load: %s", summary)
    return summary
