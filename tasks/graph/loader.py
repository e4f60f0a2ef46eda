"""Load the graph marts into Neo4j (or any Bolt server) with the official ``neo4j`` driver.

Batched ``UNWIND $rows AS row MERGE …`` per label / relationship type, nodes before
edges, everything keyed by ``id`` so a re-load changes nothing. Each relationship
carries the ``record_hash`` of the document version that stated it: after a document's
edges are merged, its edges with another hash (an author removed from its list, a
topic dropped) are deleted, and nodes left without any edge by that are removed, so
the graph keeps matching the marts. A Work's own ``record_hash`` is written last: it
marks the document's graph as completely loaded, and is what "changed since the last
load" compares against.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import cached_property
from datetime import date, datetime
from typing import Iterable, Iterator, Mapping, Sequence

from neo4j.exceptions import Neo4jError

log = logging.getLogger(__name__)

NODE_LABELS = ("Work", "Author", "Venue", "Topic")
EDGE_TYPES = {  # type -> (start label, end label)
    "AUTHORED": ("Author", "Work"),
    "CITES": ("Work", "Work"),
    "PUBLISHED_IN": ("Work", "Venue"),
    "HAS_TOPIC": ("Work", "Topic"),
}
# mart column -> node property, per label
NODE_PROPERTIES = {
    "Work": {"name": "title", "doi": "doi", "publication_date": "publication_date",
             "cited_by_count": "cited_by_count", "url": "url", "in_corpus": "in_corpus"},
    "Author": {"name": "name", "orcid": "orcid"},
    "Venue": {"name": "name"},
    "Topic": {"name": "name"},
}
# Which nodes may go once nothing links to them: never a document of the corpus.
_ORPHAN_CONDITION = {"Work": "coalesce(n.in_corpus, false) = false"}
# FalkorDB (4.16) inlines Bolt parameters into the query text: unescaped inside '…' and
# in a ~4 KiB buffer it overflows beyond. Against such a server strings are escaped
# and batches stay under this many bytes of parameters.
INLINING_MAX_PARAM_BYTES = 3000


class RowTooLarge(ValueError):
    """One row alone exceeds the server's parameter size limit."""


@dataclass
class GraphLoadReport:
    documents: int = 0
    nodes: int = 0
    edges: int = 0
    nodes_created: int = 0
    nodes_deleted: int = 0
    relationships_created: int = 0
    relationships_deleted: int = 0

    def add(self, counters) -> None:
        self.nodes_created += counters.nodes_created
        self.nodes_deleted += counters.nodes_deleted
        self.relationships_created += counters.relationships_created
        self.relationships_deleted += counters.relationships_deleted

    def as_dict(self) -> dict:
        return asdict(self)


def _value(value):
    # Dates travel as ISO text: portable across Bolt servers (FalkorDB has no temporal types).
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def node_params(row: Mapping) -> dict:
    props = NODE_PROPERTIES[row["label"]]
    return {"id": row["node_key"], "props": {p: _value(row.get(c)) for c, p in props.items()}}


def edge_params(row: Mapping, record_hash: str | None) -> dict:
    props = {"record_hash": record_hash}
    if row["edge_type"] == "AUTHORED":
        props["position"] = row.get("position")
    return {"src": row["source_key"], "dst": row["target_key"], "props": props}


def _batches(rows: Sequence[dict], size: int, max_bytes: int | None = None) -> Iterator[list[dict]]:
    """Up to ``size`` rows per batch, and at most ``max_bytes`` of (JSON-estimated) parameters."""
    batch: list[dict] = []
    used = 0
    for row in rows:
        cost = len(json.dumps(row, default=str)) + 2 if max_bytes else 0
        if max_bytes and cost > max_bytes:
            raise RowTooLarge(f"a row of {cost} bytes exceeds this server's {max_bytes}-byte "
                              f"parameter limit: {json.dumps(row, default=str)[:200]}…")
        full = len(batch) >= size or (max_bytes is not None and used + cost > max_bytes)
        if batch and full:
            yield batch
            batch, used = [], 0
        batch.append(row)
        used += cost
    if batch:
        yield batch


def _escape(value):
    """Strings as a parameter-inlining server must receive them to read them back unchanged."""
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


class GraphLoader:
    def __init__(self, driver, *, database: str | None = None, batch_size: int = 1000):
        self._driver, self._database, self.batch_size = driver, database, batch_size

    def _params(self, params: dict) -> dict:
        return _escape(params) if params and self.inlines_parameters else params

    def _write(self, query: str, **params):
        params = self._params(params)
        with self._driver.session(database=self._database) as session:
            return session.execute_write(lambda tx: tx.run(query, params).consume().counters)

    def _write_returning(self, query: str, **params) -> list[dict]:
        params = self._params(params)
        with self._driver.session(database=self._database) as session:
            return session.execute_write(lambda tx: tx.run(query, params).data())

    def _read(self, query: str, **params) -> list[dict]:
        params = self._params(params)
        with self._driver.session(database=self._database) as session:
            return session.execute_read(lambda tx: tx.run(query, params).data())

    # --- capabilities and schema ----------------------------------------------
    @cached_property
    def is_neo4j(self) -> bool:
        """Neo4j answers ``dbms.components()``; Bolt-compatible servers (FalkorDB) do not."""
        try:
            rows = self._read("CALL dbms.components() YIELD name RETURN name")
        except Neo4jError:
            return False
        return any(r["name"].startswith("Neo4j") for r in rows)

    @cached_property
    def inlines_parameters(self) -> bool:
        """True when the server pastes string parameters into the query (FalkorDB's Bolt):
        a parameter holding ``\\'`` then comes back as a bare quote."""
        if self.is_neo4j:
            return False
        with self._driver.session(database=self._database) as session:
            probe = session.execute_read(lambda tx: tx.run("RETURN $p AS v", p="\\'").single()["v"])
        return probe == "'"

    @property
    def max_param_bytes(self) -> int | None:
        return INLINING_MAX_PARAM_BYTES if self.inlines_parameters else None

    def _chunks(self, rows: Sequence[dict]) -> Iterator[list[dict]]:
        return _batches(rows, self.batch_size, self.max_param_bytes)

    def ensure_schema(self) -> str:
        """Uniqueness constraints on ``id`` where the server has them, else plain indexes."""
        if self.is_neo4j:
            for label in NODE_LABELS:
                self._write(f"CREATE CONSTRAINT {label.lower()}_id_unique IF NOT EXISTS "
                            f"FOR (n:{label}) REQUIRE n.id IS UNIQUE")
            return "uniqueness constraints"
        indexed = {r["label"] for r in self._read("CALL db.indexes() YIELD label, properties "
                                                  "RETURN label, properties") if "id" in r["properties"]}
        for label in NODE_LABELS:
            if label not in indexed:
                self._write(f"CREATE INDEX FOR (n:{label}) ON (n.id)")
        log.info("this Bolt server has no uniqueness constraints: MERGE on indexed id instead")
        return "indexes (no uniqueness constraints on this server)"

    # --- state ----------------------------------------------------------------
    def loaded_documents(self) -> dict[str, str]:
        """document_id → record_hash of every document whose graph was completely loaded."""
        rows = self._read("MATCH (w:Work) WHERE w.record_hash IS NOT NULL "
                          "RETURN w.id AS id, w.record_hash AS record_hash")
        return {r["id"]: r["record_hash"] for r in rows}

    def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type, as in the marts' terms."""
        out = {label: 0 for label in NODE_LABELS} | {t: 0 for t in EDGE_TYPES}
        for r in self._read("MATCH (n) RETURN labels(n)[0] AS k, count(n) AS c"):
            out[r["k"]] = r["c"]
        for r in self._read("MATCH ()-[r]->() RETURN type(r) AS k, count(r) AS c"):
            out[r["k"]] = r["c"]
        return out

    # --- load -----------------------------------------------------------------
    def load(self, nodes: Sequence[Mapping], edges: Sequence[Mapping],
             documents: Mapping[str, str]) -> GraphLoadReport:
        """Upsert ``nodes`` and ``edges`` (mart rows) stating the whole graph of ``documents``.

        ``documents`` maps document_id → record_hash; every edge these documents own
        that is not in ``edges`` is removed.
        """
        report = GraphLoadReport(documents=len(documents), nodes=len(nodes), edges=len(edges))
        for label, rows in _group(nodes, "label", node_params).items():
            query = f"UNWIND $rows AS row MERGE (n:{label} {{id: row.id}}) SET n += row.props"
            for batch in self._chunks(rows):
                report.add(self._write(query, rows=batch))
        stated = _group(edges, "edge_type", lambda e: edge_params(e, documents.get(e["document_id"])))
        for edge_type, rows in stated.items():
            start, end = EDGE_TYPES[edge_type]
            query = (f"UNWIND $rows AS row MATCH (a:{start} {{id: row.src}}) MATCH (b:{end} {{id: row.dst}}) "
                     f"MERGE (a)-[r:{edge_type}]->(b) SET r += row.props")
            for batch in self._chunks(rows):
                report.add(self._write(query, rows=batch))
        marks = [{"id": d, "record_hash": h} for d, h in documents.items()]
        self._remove_orphans(self._remove_stale_edges(marks, report), report)
        for batch in self._chunks(marks):
            self._write("UNWIND $rows AS row MATCH (w:Work {id: row.id}) "
                        "SET w.record_hash = row.record_hash", rows=batch)
        return report

    def _remove_stale_edges(self, marks: Sequence[dict], report: GraphLoadReport) -> dict[str, set[str]]:
        """Delete the documents' edges stated by another version; returns the detached far ends."""
        detached: dict[str, set[str]] = defaultdict(set)
        for edge_type, (start, end) in EDGE_TYPES.items():
            if edge_type == "AUTHORED":
                pattern, far_label = f"(w:Work {{id: row.id}})<-[r:{edge_type}]-(n:{start})", start
            else:
                pattern, far_label = f"(w:Work {{id: row.id}})-[r:{edge_type}]->(n:{end})", end
            query = (f"UNWIND $rows AS row MATCH {pattern} "
                     "WHERE r.record_hash IS NULL OR r.record_hash <> row.record_hash "
                     "DELETE r RETURN n.id AS id")
            for batch in self._chunks(marks):
                gone = self._write_returning(query, rows=batch)
                report.relationships_deleted += len(gone)
                detached[far_label].update(r["id"] for r in gone)
        return detached

    def _remove_orphans(self, candidates: Mapping[str, set[str]], report: GraphLoadReport) -> None:
        for label, ids in candidates.items():
            extra = f" AND {_ORPHAN_CONDITION[label]}" if label in _ORPHAN_CONDITION else ""
            query = f"UNWIND $rows AS row MATCH (n:{label} {{id: row.id}}) WHERE NOT (n)--(){extra} DELETE n"
            for batch in self._chunks([{"id": i} for i in sorted(ids)]):
                report.add(self._write(query, rows=batch))

    def load_row_by_row(self, nodes: Sequence[Mapping], edges: Sequence[Mapping]) -> GraphLoadReport:
        """One auto-commit MERGE per row: the naive path, kept only as the benchmark baseline."""
        report = GraphLoadReport(nodes=len(nodes), edges=len(edges))
        with self._driver.session(database=self._database) as session:
            for row in nodes:
                p = self._params(node_params(row))
                report.add(session.run(f"MERGE (n:{row['label']} {{id: $id}}) SET n += $props",
                                       p).consume().counters)
            for row in edges:
                start, end = EDGE_TYPES[row["edge_type"]]
                p = self._params(edge_params(row, None))
                report.add(session.run(
                    f"MATCH (a:{start} {{id: $src}}) MATCH (b:{end} {{id: $dst}}) "
                    f"MERGE (a)-[r:{row['edge_type']}]->(b) SET r += $props", p).consume().counters)
        return report


def _group(rows: Iterable[Mapping], key: str, params) -> dict[str, list[dict]]:
    """Rows by label / type (Cypher cannot parameterise those), in a fixed order."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(params(row))
    order = NODE_LABELS if key == "label" else tuple(EDGE_TYPES)
    unknown = set(grouped) - set(order)
    if unknown:
        raise ValueError(f"graph mart rows with unknown {key}: {sorted(unknown)}")
    return {k: grouped[k] for k in order if k in grouped}
