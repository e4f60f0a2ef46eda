"""The Neo4j loader against a real Bolt server (FalkorDB), fed by the dbt graph marts."""

from __future__ import annotations

import duckdb
import pytest

from tasks.graph.loader import EDGE_TYPES, NODE_LABELS, GraphLoader, RowTooLarge, _batches, cypher_literal, inlined
from tasks.graph.marts import read_graph, select_rows
from tasks.settings import Settings
from tests.unit.embed.fixture_docs import revise

PEERJ = "doi:10.7717/peerj.4375"


def mart_counts(path) -> dict[str, int]:
    with duckdb.connect(str(path)) as con:  # same configuration as dbt-duckdb's
        rows = con.execute("select label, count(*) from graph_nodes group by 1 union all "
                           "select edge_type, count(*) from graph_edges group by 1").fetchall()
    return {k: 0 for k in (*NODE_LABELS, *EDGE_TYPES)} | dict(rows)


def load(loader: GraphLoader, settings: Settings, mode: str = "changed"):
    rows, skipped = select_rows(settings, loader.loaded_documents(), mode)
    return loader.load(rows.nodes, rows.edges, rows.documents), rows, skipped


def authors_of(driver, document_id: str) -> list[tuple[int, str]]:
    with driver.session() as s:
        rows = s.run("MATCH (a:Author)-[r:AUTHORED]->(w:Work {id: $id}) RETURN r.position AS p, a.name AS n",
                     id=document_id).data()
    return sorted((r["p"], r["n"]) for r in rows)


def test_load_matches_the_marts_and_a_second_load_changes_nothing(
        empty_graph, graph_marts, graph_settings, documents):
    graph_marts.build_duckdb(documents)
    loader = GraphLoader(empty_graph, batch_size=25)
    assert loader.ensure_schema().startswith("indexes")  # FalkorDB: no uniqueness constraints
    expected = mart_counts(graph_marts.duckdb)
    assert expected["Work"] == 59 and expected["CITES"] == 45  # 14 documents, 45 cited works

    report, rows, skipped = load(loader, graph_settings)

    assert (len(rows.documents), skipped) == (14, 0)
    assert loader.counts() == expected
    assert report.nodes_created == sum(expected[k] for k in NODE_LABELS)
    assert report.relationships_created == sum(expected[k] for k in EDGE_TYPES)
    with empty_graph.session() as s:
        rao = s.run("MATCH (w:Work {id: 'arxiv:2406.19956'}) RETURN w.title AS t").single()["t"]
        piwowar = s.run("MATCH (a:Author {id: 'orcid:0000-0003-1613-5981'}) RETURN a.name AS n").single()["n"]
    assert rao == "Three Scores and 15 Years (1948-2023) of Rao's Score Test: A Brief History"
    assert piwowar == "Heather Piwowar"
    assert authors_of(empty_graph, PEERJ)[:2] == [(1, "Heather Piwowar"), (2, "Jason Priem")]

    # nothing changed: the default run selects nothing, a full re-load changes nothing
    again, rows, skipped = load(loader, graph_settings)
    assert (len(rows.documents), len(rows.nodes), len(rows.edges), skipped) == (0, 0, 0, 14)
    full, rows, _ = load(loader, graph_settings, "all")
    assert len(rows.documents) == 14
    assert (full.nodes_created, full.relationships_created, full.relationships_deleted,
            full.nodes_deleted) == (0, 0, 0, 0)
    assert loader.counts() == expected
    assert loader.ensure_schema().startswith("indexes")  # idempotent too


def test_a_changed_author_list_replaces_the_documents_authored_edges(
        empty_graph, graph_marts, graph_settings, documents):
    graph_marts.build_duckdb(documents)
    loader = GraphLoader(empty_graph, batch_size=25)
    loader.ensure_schema()
    load(loader, graph_settings)

    peerj = next(d for d in documents if d["document_id"] == PEERJ)
    new_authors = [a for a in peerj["authors"] if a["name"] != "Jason Priem"]
    new_authors.insert(1, {"name": "Ada Lovelace", "orcid": None, "id": None})
    revised = [revise(d, authors=new_authors) if d is peerj else d for d in documents]
    graph_marts.build_duckdb(revised)

    report, rows, skipped = load(loader, graph_settings)

    assert (list(rows.documents), skipped) == ([PEERJ], 13)
    assert [n for _, n in authors_of(empty_graph, PEERJ)] == [a["name"] for a in new_authors]
    assert authors_of(empty_graph, PEERJ)[1] == (2, "Ada Lovelace")
    assert (report.relationships_deleted, report.nodes_deleted) == (1, 1)  # Priem wrote only this one
    assert loader.counts() == mart_counts(graph_marts.duckdb)
    with empty_graph.session() as s:
        assert s.run("MATCH (a:Author {name: 'Jason Priem'}) RETURN count(a) AS c").single()["c"] == 0
    assert loader.loaded_documents()[PEERJ] == rows.documents[PEERJ]


def test_row_by_row_baseline_builds_the_same_graph(empty_graph, graph_marts, graph_settings, documents):
    graph_marts.build_duckdb(documents)
    loader = GraphLoader(empty_graph)
    loader.ensure_schema()
    rows = read_graph(graph_settings)
    loader.load_row_by_row(rows.nodes, rows.edges)
    assert loader.counts() == mart_counts(graph_marts.duckdb)


def test_graph_marts_build_on_postgres_as_on_duckdb(graph_marts, graph_settings, documents, monkeypatch):
    graph_marts.build_duckdb(documents)
    graph_marts.build_postgres(documents)
    on_duckdb = read_graph(graph_settings)

    monkeypatch.setenv("KI_WAREHOUSE", "postgres")
    monkeypatch.setenv("KI_WAREHOUSE_SCHEMA", graph_marts.schema)
    for name, value in {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres",
                        "PGDATABASE": "test"}.items():
        monkeypatch.setenv(name, value)
    on_postgres = read_graph(Settings())

    def keyed(rows, key):
        return {r[key]: {k: v for k, v in r.items()} for r in rows}

    assert keyed(on_postgres.nodes, "node_id") == keyed(on_duckdb.nodes, "node_id")
    assert keyed(on_postgres.edges, "edge_id") == keyed(on_duckdb.edges, "edge_id")
    assert on_postgres.documents == on_duckdb.documents


def test_batches_keep_under_the_statement_budget_of_inlining_servers():
    rows = [[f"n{i}", "x" * 40, None, 7, True] for i in range(100)]
    batches = list(_batches(rows, 1000, max_bytes=1000))
    assert [r for b in batches for r in b] == rows and len(batches) > 1
    assert all(len(cypher_literal(b)) <= 1000 for b in batches)
    assert [len(b) for b in _batches(rows, 30)] == [30, 30, 30, 10]
    with pytest.raises(RowTooLarge):
        list(_batches([["big", "x" * 5000]], 10, max_bytes=3800))


def test_parameters_are_rendered_as_falkordbs_cypher_prefix():
    assert inlined("RETURN $p", {"p": ["it's", "a\\b", None, 3, True, 1.5]}) == \
        "CYPHER p=['it\\'s', 'a\\\\b', NULL, 3, true, 1.5] RETURN $p"
    for bad in ({"k": 1}, float("nan"), "nul\0"):
        with pytest.raises((TypeError, ValueError)):
            cypher_literal(bad)


HOSTILE = ["it's", 'say "hi"', "back\\slash\\", "new\nline\ttab", "ünïcode ✓ 🧬", "\\u0041",
           "'}) MATCH (n) DETACH DELETE n //", "$rows {x} [y]"]


def test_text_survives_the_trip_and_batches_go_far_beyond_4_kib(empty_graph):
    """FalkorDB's own Bolt parameter path crashes beyond ~4 KiB and mangles quotes."""
    loader = GraphLoader(empty_graph, batch_size=5000)
    loader.ensure_schema()
    assert loader.inlines_parameters
    topics = [{"label": "Topic", "node_key": f"topic-{i:05d}", "name": HOSTILE[i % len(HOSTILE)] + f" {i}"}
              for i in range(3000)]
    assert len(cypher_literal([[t["node_key"], t["name"]] for t in topics])) > 10 * 4096  # one statement

    report = loader.load(topics, [], {})

    assert report.nodes_created == 3000
    with empty_graph.session() as s:
        names = {r["id"]: r["name"] for r in s.run("MATCH (t:Topic) RETURN t.id AS id, t.name AS name")}
    assert names == {t["node_key"]: t["name"] for t in topics}
    assert loader.load(topics, [], {}).nodes_created == 0
