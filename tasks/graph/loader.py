"""Load the graph marts into Neo4j (or any Bolt server) with the official ``neo4j`` driver.

Batched ``UNWIND $rows AS row MERGE …`` per label / relationship type, nodes before
edges, everything keyed by ``id`` so a re-load changes nothing. Each relationship
carries ``doc_version`` (a prefix of the record_hash of the document version that
stated it): after a document's
edges are merged, its edges with another hash (an author removed from its list, a
topic dropped) are deleted, and nodes left without any edge by that are removed, so
the graph keeps matching the marts. A Work's own ``record_hash`` is written last: it
marks the document's graph as completely loaded, and is what "changed since the last
load" compares against.

Rows travel as compact lists (``row[0]`` is the id) rather than maps: less to send and,
on servers that parse parameters as text (FalkorDB, see ``inlines_parameters``), less
to parse.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
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
# node property <- mart column, per label (row[1:] in this order)
NODE_PROPERTIES = {
    "Work": {"title": "name", "doi": "doi", "publication_date": "publication_date",
             "cited_by_count": "cited_by_count", "url": "url", "in_corpus": "in_corpus"},
    "Author": {"name": "name", "orcid": "orcid"},
    "Venue": {"name": "name"},
    "Topic": {"name": "name"},
}
# relationship properties (row[2:] in this order)
EDGE_PROPERTIES = {"AUTHORED": ("doc_version", "position")}
_DEFAULT_EDGE_PROPERTIES = ("doc_version",)
# Which nodes may go once nothing links to them: never a document of the corpus.
_ORPHAN_CONDITION = {"Work": "coalesce(n.in_corpus, false) = false"}
# FalkorDB (4.16) pastes Bolt parameters, strings unescaped, into a 4 KiB buffer that it
# overflows (and crashes) beyond. Against such a server the loader renders parameters
# itself, as FalkorDB's own ``CYPHER name=value …`` prefix of the query text (which has no
# such buffer, and which FalkorDB parses far faster than literals inside the query), and
# keeps one statement under this many bytes.
INLINED_MAX_STATEMENT_BYTES = 1 << 20


class RowTooLarge(ValueError):
    """One row alone exceeds the statement size limit."""


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


def _value(value):
    # Dates travel as ISO text: portable across Bolt servers (FalkorDB has no temporal types).
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def node_row(row: Mapping) -> list:
    """[id, *properties] of a graph_nodes row."""
    columns = NODE_PROPERTIES[row["label"]].values()
    return [row["node_key"], *(_value(row.get(c)) for c in columns)]


def doc_version(record_hash: str | None) -> str | None:
    """64 bits of the record_hash: tells versions of one document apart, at a quarter the size."""
    return record_hash[:16] if record_hash else None


def edge_row(row: Mapping, record_hash: str | None) -> list:
    """[start id, end id, doc_version, (position)] of a graph_edges row."""
    out = [row["source_key"], row["target_key"], doc_version(record_hash)]
    if row["edge_type"] == "AUTHORED":
        out.append(row.get("position"))
    return out


def _set_clause(var: str, names: Iterable[str], first: int, prefix: str = "row") -> str:
    return ", ".join(f"{var}.{name} = {prefix}[{i}]" for i, name in enumerate(names, first))


def node_query(label: str, prefix: str = "row") -> str:
    return (f"MERGE (n:{label} {{id: {prefix}[0]}}) "
            f"SET {_set_clause('n', NODE_PROPERTIES[label], 1, prefix)}")


def edge_query(edge_type: str, prefix: str = "row") -> str:
    start, end = EDGE_TYPES[edge_type]
    props = EDGE_PROPERTIES.get(edge_type, _DEFAULT_EDGE_PROPERTIES)
    return (f"MATCH (a:{start} {{id: {prefix}[0]}}) MATCH (b:{end} {{id: {prefix}[1]}}) "
            f"MERGE (a)-[r:{edge_type}]->(b) SET {_set_clause('r', props, 2, prefix)}")


def cypher_literal(value) -> str:
    """``value`` as Cypher text that a parameter-inlining server reads back unchanged."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError("a NUL character cannot be sent to this graph server")
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(cypher_literal(v) for v in value) + "]"
    raise TypeError(f"cannot send {type(value).__name__} {value!r:.50} to the graph")


def inlined(query: str, params: Mapping[str, object]) -> str:
    """``CYPHER name=value … query``: the parameters rendered into the statement's text."""
    return " ".join(["CYPHER", *(f"{k}={cypher_literal(v)}" for k, v in params.items()), query])


def _batches(rows: Sequence, size: int, max_bytes: int | None = None) -> Iterator[list]:
    """Up to ``size`` rows per batch and, when ``max_bytes`` is set, at most that many
    bytes of rows rendered as Cypher text."""
    batch: list = []
    used = 0
    for row in rows:
        cost = len(cypher_literal(row).encode()) + 2 if max_bytes else 0
        if max_bytes and cost > max_bytes:
            raise RowTooLarge(f"a row of {cost} bytes exceeds this server's {max_bytes}-byte "
                              f"statement limit: {str(row)[:200]}…")
        if batch and (len(batch) >= size or (max_bytes and used + cost > max_bytes)):
            yield batch
            batch, used = [], 0
        batch.append(row)
        used += cost
    if batch:
        yield batch


class GraphLoader:
    def __init__(self, driver, *, database: str | None = None, batch_size: int = 1000):
        self._driver, self._database, self.batch_size = driver, database, batch_size

    def _statement(self, query: str, params: dict) -> tuple[str, dict | None]:
        """What to send: the parameters as Bolt values, or inlined into the text."""
        if params and self.inlines_parameters:
            return inlined(query, params), None
        return query, params

    def _run_write(self, work):
        """Managed write transaction (retried on transient errors); on a server that only
        acknowledges BEGIN/COMMIT (FalkorDB) the round trips are skipped: auto-commit."""
        with self._driver.session(database=self._database) as session:
            if self.inlines_parameters:
                return work(session)
            return session.execute_write(work)

    def _write(self, query: str, **params):
        query, params = self._statement(query, params)
        return self._run_write(lambda tx: tx.run(query, params).consume().counters)

    def _write_returning(self, query: str, **params) -> list[dict]:
        query, params = self._statement(query, params)
        return self._run_write(lambda tx: tx.run(query, params).data())

    def _read(self, query: str, **params) -> list[dict]:
        query, params = self._statement(query, params)
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
        a parameter holding ``\\'`` then comes back as a bare quote. The loader then
        inlines parameters itself (``inlined``)."""
        if self.is_neo4j:
            return False
        with self._driver.session(database=self._database) as session:
            probe = session.execute_read(lambda tx: tx.run("RETURN $p AS v", p="\\'").single()["v"])
        return probe == "'"

    def _chunks(self, rows: Sequence) -> Iterator[list]:
        limit = INLINED_MAX_STATEMENT_BYTES if self.inlines_parameters else None
        return _batches(rows, self.batch_size, limit)

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

    def work(self, document_id: str) -> dict | None:
        """The Work node of one document (id, record_hash, relationships), None when absent."""
        rows = self._read("MATCH (w:Work {id: $id}) OPTIONAL MATCH (w)-[r]-() "
                          "RETURN w.id AS id, w.record_hash AS record_hash, count(r) AS relationships",
                          id=document_id)
        return rows[0] if rows and rows[0]["id"] is not None else None

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
        for label, rows in _group(nodes, "label", node_row).items():
            query = f"UNWIND $rows AS row {node_query(label)}"
            for batch in self._chunks(rows):
                report.add(self._write(query, rows=batch))
        stated = _group(edges, "edge_type", lambda e: edge_row(e, documents.get(e["document_id"])))
        for edge_type, rows in stated.items():
            query = f"UNWIND $rows AS row {edge_query(edge_type)}"
            for batch in self._chunks(rows):
                report.add(self._write(query, rows=batch))
        versions = [[d, doc_version(h)] for d, h in documents.items()]
        self._remove_orphans(self._remove_stale_edges(versions, report), report)
        marks = [[d, h] for d, h in documents.items()]
        for batch in self._chunks(marks):
            self._write("UNWIND $rows AS row MATCH (w:Work {id: row[0]}) SET w.record_hash = row[1]",
                        rows=batch)
        return report

    def _remove_stale_edges(self, versions: Sequence[list], report: GraphLoadReport) -> dict[str, set[str]]:
        """Delete the documents' edges stated by another version; returns the detached far ends."""
        detached: dict[str, set[str]] = defaultdict(set)
        for edge_type, (start, end) in EDGE_TYPES.items():
            if edge_type == "AUTHORED":
                pattern, far_label = f"(w:Work {{id: row[0]}})<-[r:{edge_type}]-(n:{start})", start
            else:
                pattern, far_label = f"(w:Work {{id: row[0]}})-[r:{edge_type}]->(n:{end})", end
            query = (f"UNWIND $rows AS row MATCH {pattern} "
                     "WHERE r.doc_version IS NULL OR r.doc_version <> row[1] "
                     "DELETE r RETURN n.id AS id")
            for batch in self._chunks(versions):
                gone = self._write_returning(query, rows=batch)
                report.relationships_deleted += len(gone)
                detached[far_label].update(r["id"] for r in gone)
        return detached

    def _remove_orphans(self, candidates: Mapping[str, set[str]], report: GraphLoadReport) -> None:
        for label, ids in candidates.items():
            extra = f" AND {_ORPHAN_CONDITION[label]}" if label in _ORPHAN_CONDITION else ""
            query = f"UNWIND $rows AS row MATCH (n:{label} {{id: row[0]}}) WHERE NOT (n)--(){extra} DELETE n"
            for batch in self._chunks([[i] for i in sorted(ids)]):
                report.add(self._write(query, rows=batch))

    def load_row_by_row(self, nodes: Sequence[Mapping], edges: Sequence[Mapping]) -> GraphLoadReport:
        """One auto-commit MERGE per row: the naive path, kept only as the benchmark baseline."""
        report = GraphLoadReport(nodes=len(nodes), edges=len(edges))
        with self._driver.session(database=self._database) as session:
            for label, rows in _group(nodes, "label", node_row).items():
                for row in rows:
                    report.add(session.run(*self._statement(node_query(label, "$row"), {"row": row}))
                               .consume().counters)
            for edge_type, rows in _group(edges, "edge_type", lambda e: edge_row(e, None)).items():
                for row in rows:
                    report.add(session.run(*self._statement(edge_query(edge_type, "$row"), {"row": row}))
                               .consume().counters)
        return report


def _group(rows: Iterable[Mapping], key: str, make) -> dict[str, list]:
    """Rows by label / type (Cypher cannot parameterise those), in a fixed order."""
    grouped: dict[str, list] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(make(row))
    order = NODE_LABELS if key == "label" else tuple(EDGE_TYPES)
    unknown = set(grouped) - set(order)
    if unknown:
        raise ValueError(f"graph mart rows with unknown {key}: {sorted(unknown)}")
    return {k: grouped[k] for k in order if k in grouped}
