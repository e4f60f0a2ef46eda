"""Thin Prefect wrappers around the graph cores (the graph-load flow wires these)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.graph.loader import GraphLoader, GraphLoadReport
from tasks.graph.marts import GraphRows, select_rows
from tasks.settings import Settings


@task(name="graph-ensure-schema", cache_policy=NO_CACHE)
def ensure_graph_schema(loader: GraphLoader) -> str:
    kind = loader.ensure_schema()
    get_run_logger().info("graph schema: %s", kind)
    return kind


@task(name="graph-select-rows", cache_policy=NO_CACHE)
def select_graph_rows(settings: Settings, loader: GraphLoader, mode: str) -> tuple[GraphRows, int]:
    rows, skipped = select_rows(settings, loader.loaded_documents(), mode)
    get_run_logger().info("%d document(s) to load (%d nodes, %d edges), %d unchanged",
                          len(rows.documents), len(rows.nodes), len(rows.edges), skipped)
    return rows, skipped


@task(name="graph-load", cache_policy=NO_CACHE)
def load_graph(loader: GraphLoader, rows: GraphRows) -> GraphLoadReport:
    return loader.load(rows.nodes, rows.edges, rows.documents)
