"""Read the ``graph_nodes`` / ``graph_edges`` marts from the warehouse (DuckDB or Postgres).

Either everything, or only what a set of documents states: their edges and every node
those edges touch (plus the documents' own Work nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import duckdb
import psycopg
from psycopg.rows import dict_row

from tasks.settings import Settings

NODES, EDGES = "graph_nodes", "graph_edges"


@dataclass(frozen=True)
class GraphRows:
    nodes: list[dict]
    edges: list[dict]
    documents: dict[str, str]
    """document_id → record_hash of the documents these rows state completely."""


class MartMissing(LookupError):
    """The graph marts have not been built: run dbt (the literature-sync flow) first."""


def _rows(settings: Settings, sql: str, params: list) -> list[dict]:
    """``sql`` with ``{nodes}``/``{edges}`` placeholders and ``?`` parameters → dict rows."""
    if settings.warehouse == "postgres":
        schema = settings.warehouse_schema
        # libpq takes host, user, password … from the standard PG* environment variables.
        with psycopg.connect("", row_factory=dict_row) as con:
            for table in (NODES, EDGES):
                if con.execute("select to_regclass(%s) as t", [f"{schema}.{table}"]).fetchone()["t"] is None:
                    raise MartMissing(f"{schema}.{table} does not exist in the Postgres warehouse")
            return con.execute(sql.replace("?", "%s").format(nodes=f"{schema}.{NODES}",
                                                              edges=f"{schema}.{EDGES}"), params).fetchall()
    path = settings.duckdb_file
    if not path.exists():
        raise MartMissing(f"no DuckDB warehouse at {path}")
    # Same configuration as dbt-duckdb's connection: DuckDB refuses a second, differently
    # configured (e.g. read-only) connection to a file open in this process.
    with duckdb.connect(str(path)) as con:
        found = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
        missing = {NODES, EDGES} - found
        if missing:
            raise MartMissing(f"{sorted(missing)} not in {path}")
        cur = con.execute(sql.format(nodes=f"main.{NODES}", edges=f"main.{EDGES}"), params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def mart_documents(settings: Settings) -> dict[str, str]:
    """document_id → record_hash of every document in the graph marts."""
    rows = _rows(settings, "select node_key, record_hash from {nodes} "
                           "where label = 'Work' and in_corpus", [])
    return {r["node_key"]: r["record_hash"] for r in rows}


def read_graph(settings: Settings, document_ids: Sequence[str] | None = None) -> GraphRows:
    """All of the graph, or the part stated by ``document_ids``."""
    if document_ids is None:
        edges = _rows(settings, "select * from {edges}", [])
        nodes = _rows(settings, "select * from {nodes}", [])
        return GraphRows(nodes, edges, mart_documents(settings))
    ids = list(document_ids)
    if not ids:
        return GraphRows([], [], {})
    edges = _rows(settings, "select * from {edges} where document_id in (select unnest(?))", [ids])
    nodes = _rows(
        settings,
        """
        with touched as (
            select source_node_id as node_id from {edges} where document_id in (select unnest(?))
            union
            select target_node_id from {edges} where document_id in (select unnest(?))
        )
        select * from {nodes}
        where node_id in (select node_id from touched)
           or (label = 'Work' and node_key in (select unnest(?)))
        """,
        [ids, ids, ids],
    )
    wanted = set(ids)
    documents = {n["node_key"]: n["record_hash"] for n in nodes
                 if n["label"] == "Work" and n["in_corpus"] and n["node_key"] in wanted}
    return GraphRows(nodes, edges, documents)


def changed_documents(in_marts: dict[str, str], loaded: dict[str, str]) -> list[str]:
    """Documents whose graph is not loaded yet, or was loaded from another version."""
    return sorted(d for d, h in in_marts.items() if loaded.get(d) != h)


def select_rows(settings: Settings, loaded: dict[str, str], mode: str = "changed") -> tuple[GraphRows, int]:
    """(rows to load, documents skipped as unchanged) for ``changed`` or ``all`` documents."""
    if mode not in ("changed", "all"):
        raise ValueError(f"documents must be 'changed' or 'all', not {mode!r}")
    if mode == "all":
        return read_graph(settings), 0
    in_marts = mart_documents(settings)
    todo = changed_documents(in_marts, loaded)
    return read_graph(settings, todo), len(in_marts) - len(todo)
