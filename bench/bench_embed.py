"""Embedding throughput of the embed-documents path vs a bare ``SentenceTransformer.encode``.

Data: the 14 real documents of tests/fixtures (OpenAlex, arXiv, PubMed recordings, parsed
by the project's parsers) varied into ``--docs`` distinct documents (own id, title
suffix, abstract rotated), written as the ``scientific_documents`` mart in DuckDB.
Model: the configured offline model (packaged all-MiniLM-L6-v2), CPU.

  bare:     SentenceTransformer.encode(texts, batch_size=B) on the same prepared texts
  pipeline: tasks.embed.pipeline.embed_documents: read the mart, plan against the cache,
            length-sorted batches, encode, normalise, upsert into LanceDB
  rerun:    the same call again over the unchanged mart (everything cached)

Each side runs in its own child process (model load excluded from the timings, peak RSS
its own), alternating, ``--repeat`` times. The machine is shared, so wall-clock times
swing with other load: the ratio is given on the best wall-clock run of each side and on
CPU time (user+sys of all threads, median of the runs), which other processes disturb
far less. Targets: pipeline/bare >= 0.9; first run / rerun >= 50.

    HF_HUB_OFFLINE=1 python bench/bench_embed.py --docs 400 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from child import in_child

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def base_documents() -> list[dict]:
    from tasks.literature.sources import arxiv, openalex, pubmed

    rows = [openalex.parse_work(json.loads((FIXTURES / "openalex/W2741809807.json").read_bytes()))]
    rows += arxiv.parse_page((FIXTURES / "arxiv/del_maestro_checkerboard.xml").read_bytes())
    body = json.loads((FIXTURES / "arxiv/q_testing_s10_m10_34e56e15aaac.json").read_text())["body"]
    rows += arxiv.parse_page(body.encode())
    rows += pubmed.parse_page((FIXTURES / "pubmed/pubmed2.xml").read_bytes())
    return rows


def make_mart(path: Path, n: int) -> None:
    from datetime import datetime, timezone

    import duckdb
    import pyarrow as pa

    from tasks.documents import DOCUMENT_SCHEMA, finalise

    base = base_documents()
    now = datetime.now(timezone.utc)
    rows = []
    for i in range(n):
        doc = dict(base[i % len(base)])
        words = (doc["abstract"] or "").split()
        shift = i % max(1, len(words))
        doc |= {"document_id": f"{doc['document_id']}#v{i}", "source_id": f"{doc['source_id']}v{i}",
                "title": f"{doc['title']} (variant {i})",
                "abstract": " ".join(words[shift:] + words[:shift]) or None}
        rows.append(finalise(doc, run_id="bench", ingested_at=now, raw_key="bench"))
    with duckdb.connect(str(path)) as con:
        con.register("docs", pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA))
        con.execute("create or replace table main.scientific_documents as select * from docs")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall-clock and CPU seconds (all threads of this process) of a block."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), self._cpu_now()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = self._cpu_now() - self._cpu

    @staticmethod
    def _cpu_now() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


def run_bare(work: str, batch_size: int, queue) -> None:
    import duckdb
    from sentence_transformers import SentenceTransformer

    from tasks.embed.backends import document_text
    from tasks.embed.model import locate_model
    from tasks.settings import Settings

    settings = Settings()
    model = SentenceTransformer(str(locate_model(settings.embed_offline_model)), device="cpu")
    with duckdb.connect(str(Path(work) / "warehouse.duckdb")) as con:
        rows = con.execute("select title, abstract from main.scientific_documents").fetchall()
    texts = [document_text(t, a, model.max_seq_length) for t, a in rows]
    model.encode(texts[:8], batch_size=batch_size)  # warm-up
    with Clock() as clock:
        model.encode(texts, batch_size=batch_size)
    queue.put({"seconds": clock.wall, "cpu": clock.cpu, "docs": len(texts), "peak_mib": peak_rss_mib()})


def run_pipeline(work: str, batch_size: int, attempt: int, queue) -> None:
    from tasks.embed.backends import LocalBackend
    from tasks.embed.model import resolve_model
    from tasks.embed.pipeline import WarehouseDocuments, embed_documents
    from tasks.settings import Settings
    from tasks.sinks.lancedb_sink import LanceDBSink

    settings = Settings()
    backend = LocalBackend(resolve_model(settings.embed_offline_model, None), device="cpu")
    backend.encode_batches([["warm-up"] * 8])
    sink = LanceDBSink(str(Path(work) / "lancedb"), f"bench{attempt}")  # empty: embeds all
    source = WarehouseDocuments(settings)
    with Clock() as first_run:
        first = embed_documents(source, sink, backend, batch_size=batch_size)
    with Clock() as rerun:
        again = embed_documents(source, sink, backend, batch_size=batch_size)
    queue.put({"seconds": first_run.wall, "cpu": first_run.cpu, "docs": first.embedded,
               "rerun_seconds": rerun.wall, "rerun_embedded": again.embedded,
               "model_id": backend.model.model_id, "peak_mib": peak_rss_mib()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    bares, pipes = [], []
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as work:
        os.environ.update({"KI_DATA_DIR": work, "KI_DUCKDB_PATH": str(Path(work) / "warehouse.duckdb"),
                           "KI_WAREHOUSE": "duckdb", "HF_HUB_OFFLINE": "1"})
        make_mart(Path(work) / "warehouse.duckdb", args.docs)
        for attempt in range(args.repeat):
            sides = [lambda: bares.append(in_child(run_bare, work, args.batch_size)),
                     lambda: pipes.append(in_child(run_pipeline, work, args.batch_size, attempt))]
            for side in sides if attempt % 2 == 0 else reversed(sides):
                side()

    bare = min(bares, key=lambda r: r["seconds"])
    pipe = min(pipes, key=lambda r: r["seconds"])
    rerun = min(r["rerun_seconds"] for r in pipes)
    bare_rate, pipe_rate = bare["docs"] / bare["seconds"], pipe["docs"] / pipe["seconds"]
    print(f"documents: {args.docs}, batch size {args.batch_size}, model {pipe['model_id']}, CPU, "
          f"best of {args.repeat}")
    print(f"bare encode:     {bare_rate:8.1f} docs/s  (runs {[round(r['seconds'], 2) for r in bares]} s, "
          f"CPU {[round(r['cpu'], 1) for r in bares]} s)"
          f"  peak RSS {max(r['peak_mib'] for r in bares):.0f} MiB")
    print(f"pipeline:        {pipe_rate:8.1f} docs/s  (runs {[round(r['seconds'], 2) for r in pipes]} s, "
          f"CPU {[round(r['cpu'], 1) for r in pipes]} s)"
          f"  peak RSS {max(r['peak_mib'] for r in pipes):.0f} MiB")
    cpu_ratio = statistics.median(b["cpu"] for b in bares) / statistics.median(p["cpu"] for p in pipes)
    print(f"rerun unchanged: {rerun:.3f} s (embedded {max(r['rerun_embedded'] for r in pipes)})")
    print(f"ratio pipeline/bare:  {pipe_rate / bare_rate:.3f} wall-clock (best runs), "
          f"{cpu_ratio:.3f} CPU time (medians)  (target >= 0.9)")
    print(f"ratio first/rerun:    {pipe['seconds'] / rerun:.0f}x  (target >= 50)")


if __name__ == "__main__":
    main()
