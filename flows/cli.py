"""``knowledge-ingest``: the user's command beside ``prefect`` and ``dbt``.

Subcommands follow their conventions: ``knowledge-ingest GROUP COMMAND [options]``, ``--help`` at
every level, results on stdout, errors on stderr, exit status 0 on success, 1 when the command ran
but its answer is negative (a message that would be dead-lettered, nothing found), 2 for usage or
configuration errors. Each group is wired in its own ``_add_<group>`` function; the work itself
lives in ``flows/`` and ``tasks/``, imported only when the command runs, so ``--help`` is fast.

Commands that run flows (``sync``, ``elt run``, ``embed``, ``graph``, ``telemetry ingest``) run against
PREFECT_API_URL; without it they start a local Prefect server for the run, as the demo does,
and print its summary as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date


class CommandError(Exception):
    """A failure to report on stderr with exit status 2 (bad input, missing configuration)."""


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the platform's main job offline on the embedded defaults")

    def run(args: argparse.Namespace) -> int:
        from flows.demo import main as demo_main

        return demo_main() or 0

    p.set_defaults(func=run)


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="nearest documents to a question in the vector store")
    p.add_argument("question")
    p.add_argument("-k", "--limit", type=int, default=10, help="how many documents (default 10)")
    p.add_argument("--model", help="override KI_EMBED_MODEL")

    def run(args: argparse.Namespace) -> int:
        from flows.search import main as search_main

        argv = [args.question, "--limit", str(args.limit)] + (["--model", args.model] if args.model else [])
        return search_main(argv)

    p.set_defaults(func=run)


def _add_lineage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lineage", help="the chain of one document: raw page, manifest, run, Parquet, mart, vector, graph",
        description="Print, as JSON, where DOCUMENT_ID came from (raw lake key and its manifest sha256, "
        "run id and Prefect flow run, Parquet file) and where it is (mart row, vector, graph node). "
        "Exit 1 when the document is not in the mart.",
    )
    p.add_argument("document_id", metavar="DOCUMENT_ID", help="e.g. doi:10.7717/peerj.4375 or arxiv:2403.16981")

    def run(args: argparse.Namespace) -> int:
        from tasks.lineage import DocumentNotFound, trace
        from tasks.settings import load_settings

        try:
            chain = trace(load_settings(), args.document_id)
        except DocumentNotFound as exc:
            sys.stderr.write(f"knowledge-ingest: {exc}\n")
            return 1
        sys.stdout.write(json.dumps(chain, indent=2, default=str) + "\n")
        return 0

    p.set_defaults(func=run)


def _add_telemetry(sub: argparse._SubParsersAction) -> None:
    """``telemetry check FILE…``: readings as JSON lines on stdout, rejections on stderr;
    exit 1 when any message would be dead-lettered, 2 when a file cannot be read."""
    group = sub.add_parser("telemetry", help="telemetry ingestion tools")
    commands = group.add_subparsers(dest="telemetry_command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "check",
        help="print the readings each message would give, or why it would be dead-lettered",
        description="Each FILE holds one JSON message or JSON lines; '-' reads stdin.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        import orjson

        from tasks.telemetry.check import check, reading_record
        from tasks.telemetry.model import Limits

        inputs = []
        for name in args.files:
            try:
                inputs.append((name, sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()))
            except OSError as exc:
                raise CommandError(f"cannot read {name}: {exc.strerror or exc}") from None
        rejected = False
        for name, data in inputs:
            for result in check(name, data, Limits()):
                for reading in result.readings:
                    line = orjson.dumps(reading_record(result.label, reading), option=orjson.OPT_NON_STR_KEYS)
                    sys.stdout.write(line.decode() + "\n")
                if result.rejection is not None:
                    rejected = True
                    sys.stderr.write(f"{result.label}: dead-lettered: {result.rejection}\n")
                elif result.no_readings:
                    sys.stderr.write(f"{result.label}: no readings: {result.no_readings}\n")
        return 1 if rejected else 0

    p.set_defaults(func=run)

    ingest = commands.add_parser(
        "ingest", help="run telemetry-ingest once as a micro-batch (Kafka -> readings table + DLQ)",
        description="Consumes until --max-messages or --max-seconds, commits, and stops; the "
        "long-running mode is a deployment (prefect.yaml).",
    )
    ingest.add_argument("--max-messages", type=int, default=100_000)
    ingest.add_argument("--max-seconds", type=float, default=50.0)

    def run_ingest(args: argparse.Namespace) -> dict:
        from flows.telemetry_ingest import telemetry_ingest

        return telemetry_ingest(max_messages=args.max_messages, max_seconds=args.max_seconds)

    ingest.set_defaults(flow=run_ingest)


def _add_elt(sub: argparse._SubParsersAction) -> None:
    """``elt run --once`` (the polling deployment's code, once) and ``elt notify FILE`` (a relay)."""
    group = sub.add_parser("elt", help="ELT of files dropped in landing/<dataset>/")
    commands = group.add_subparsers(dest="elt_command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "run", help="run elt-ingest over every file waiting in landing/ of the configured lake, then exit",
        description="What the elt-ingest/poll-landing deployment runs every minute, run once.",
    )
    p.add_argument("--once", action="store_true",
                   help="process what is waiting and exit (the only mode: continuous polling is the deployment)")
    p.add_argument("--dataset", action="append", dest="datasets", metavar="NAME",
                   help="only this dataset (repeatable; default: every declared dataset)")

    def run(args: argparse.Namespace) -> dict:
        from flows.elt_ingest import elt_ingest

        return elt_ingest(datasets=args.datasets)

    p.set_defaults(flow=run)

    notify = commands.add_parser(
        "notify", help="post an object-store notification body to the Prefect API as an event (a relay)",
        description="FILE holds an S3 event notification, an EventBridge event or a GCS Pub/Sub "
        "notification ('-' reads stdin); the elt-ingest automation turns it into a run.",
    )
    notify.add_argument("file", metavar="FILE")

    def run_notify(args: argparse.Namespace) -> int:
        from pathlib import Path

        import httpx

        from tasks.elt.notifications import post_notification

        api = os.environ.get("PREFECT_API_URL")
        if not api:
            raise CommandError("PREFECT_API_URL is not set: there is no server to notify")
        try:
            body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
            event_ids = post_notification(api, body)
        except (OSError, ValueError, httpx.HTTPError) as exc:
            raise CommandError(f"cannot post {args.file}: {exc}") from None
        sys.stdout.write("".join(f"{event_id}\n" for event_id in event_ids))
        return 0

    notify.set_defaults(func=run_notify)


def _add_sources(sub: argparse._SubParsersAction) -> None:
    """``sources list`` (the registry) and ``sources parse SOURCE FILE…``: normalised rows as
    JSON lines on stdout, quarantined records (and unreadable pages) as JSON lines on stderr;
    exit 1 when anything would be quarantined, 2 when a file cannot be read."""
    group = sub.add_parser("sources", help="the registered sources; check a saved response before scheduling")
    commands = group.add_subparsers(dest="sources_command", metavar="COMMAND", required=True)
    p = commands.add_parser("list", help="every source: name, domain, kind, rate limits, default schedule")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    def run_list(args: argparse.Namespace) -> int:
        from tasks.literature.sources import REGISTRY

        rows = [e.describe() for e in REGISTRY]
        if args.json:
            sys.stdout.write("".join(json.dumps(r) + "\n" for r in rows))
            return 0
        header = ("name", "domain", "kind", "entity", "table", "per_second", "per_day", "schedule")
        table = [header] + [tuple("-" if r[h] is None else f"{r[h]:g}" if isinstance(r[h], float) else str(r[h])
                                  for h in header) for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
        return 0

    p.set_defaults(func=run_list)

    from tasks.literature.sources import SOURCE_NAMES

    p = commands.add_parser(
        "parse", help="normalise saved raw response bodies of SOURCE and show what would be quarantined",
        description="Each FILE is one raw page as the API sent it (gzip, as landed in raw/, is accepted).",
    )
    p.add_argument("source", choices=SOURCE_NAMES)
    p.add_argument("files", nargs="+", metavar="FILE")

    def run_parse(args: argparse.Namespace) -> int:
        import gzip
        from datetime import datetime, timezone
        from pathlib import Path

        import orjson

        from tasks.literature.normalise import body_rows
        from tasks.literature.sources import get_source
        from tasks.literature.sources.base import PageError

        source = get_source(args.source)
        bodies = []
        for name in args.files:
            try:
                data = Path(name).read_bytes()
                bodies.append((name, gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data))
            except (OSError, EOFError) as exc:
                raise CommandError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
        quarantined = False
        now = datetime.now(timezone.utc)
        for name, body in bodies:
            try:
                rows, rejects = body_rows(source, body, raw_key=name, run_id="sources-parse", ingested_at=now)
            except PageError as exc:
                rows, rejects = [], [{"raw_key": name, "reason": f"unreadable page: {exc}",
                                      "source_id": None, "excerpt": ""}]
            for row in rows:
                sys.stdout.write(orjson.dumps(row).decode() + "\n")
            for reject in rejects:
                quarantined = True
                sys.stderr.write(orjson.dumps({"quarantined": True, **reject}).decode() + "\n")
        return 1 if quarantined else 0

    p.set_defaults(func=run_parse)


def _add_sync(sub: argparse._SubParsersAction) -> None:
    from tasks.literature.sources import SOURCE_NAMES

    p = sub.add_parser(
        "sync", help="run literature-sync for one source and window",
        description="Without --since/--until the window runs from the watermark to today; with them it "
        "is a backfill of exactly [since, until). Re-running a window changes nothing.",
    )
    p.add_argument("source", choices=SOURCE_NAMES)
    p.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD")
    p.add_argument("--until", type=date.fromisoformat, metavar="YYYY-MM-DD")
    p.add_argument("--query", default="", help="the source's search query (default: everything)")
    p.add_argument("--replay", metavar="DIR", help="serve recorded responses from DIR instead of the API")
    p.add_argument("--no-marts", action="store_true", help="land and normalise only, skip dbt build")

    def run(args: argparse.Namespace) -> dict:
        from flows.literature_sync import literature_sync

        return literature_sync(source=args.source, since=args.since, until=args.until, query=args.query,
                               build_marts=not args.no_marts, replay_dir=args.replay)

    p.set_defaults(flow=run)


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="run embed-documents: embed new and changed documents into the vector store")
    p.add_argument("--documents", choices=["changed", "all"], default="changed")
    p.add_argument("--model", help="override KI_EMBED_MODEL for this run")

    def run(args: argparse.Namespace) -> dict:
        from flows.embed_documents import embed_documents

        return embed_documents(documents=args.documents, model=args.model)

    p.set_defaults(flow=run)


def _add_graph(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="run graph-load: load new and changed documents into the graph (NEO4J_URI)")
    p.add_argument("--documents", choices=["changed", "all"], default="changed")

    def run(args: argparse.Namespace) -> dict:
        from flows.graph_load import graph_load

        return graph_load(documents=args.documents)

    p.set_defaults(flow=run)


def _add_automations(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("automations", help="apply, list or prune the declared Prefect automations")
    p.add_argument("action", choices=["apply", "list", "delete-undeclared"])

    def run(args: argparse.Namespace) -> int:
        from flows.automations import main as automations_main

        return automations_main([args.action])

    p.set_defaults(func=run)


def _add_budgets(sub: argparse._SubParsersAction) -> None:
    """``budgets apply`` sets the Prefect limits holding each source's shared request budget to
    the registry's values; ``budgets list`` shows them with the slots in use."""
    group = sub.add_parser("budgets", help="the per-source request budgets shared by all runs (Prefect limits)")
    commands = group.add_subparsers(dest="budgets_command", metavar="COMMAND", required=True)
    apply = commands.add_parser(
        "apply", help="create or update every source's rate and today's quota limit; delete past days' quotas",
        description="Idempotent: limits already equal to the registry's are left untouched.",
    )
    listing = commands.add_parser("list", help="every source-rate:/source-quota: limit with its slots in use")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    def client():
        if not os.environ.get("PREFECT_API_URL"):
            raise CommandError("PREFECT_API_URL is not set: there is no server holding the budgets")
        from prefect.client.orchestration import get_client

        return get_client(sync_client=True)

    def show(c, as_json: bool) -> int:
        from tasks.literature.budget import budget_limits

        rows = [{"name": x.name, "limit": x.limit, "active_slots": x.active_slots,
                 "slot_decay_per_second": x.slot_decay_per_second, "active": x.active}
                for x in budget_limits(c)]
        if as_json:
            sys.stdout.write("".join(json.dumps(r) + "\n" for r in rows))
            return 0
        for r in rows:
            decay = f"  decay {r['slot_decay_per_second']:g}/s" if r["slot_decay_per_second"] else ""
            off = "" if r["active"] else "  (inactive)"
            sys.stdout.write(f"{r['name']}  {r['active_slots']}/{r['limit']}{decay}{off}\n")
        return 0

    def run_list(args: argparse.Namespace) -> int:
        with client() as c:
            return show(c, args.json)

    def run_apply(args: argparse.Namespace) -> int:
        from tasks.literature.budget import apply_budgets, registry_budgets

        with client() as c:
            apply_budgets(c, registry_budgets())
            return show(c, False)

    apply.set_defaults(func=run_apply)
    listing.set_defaults(func=run_list)


GROUPS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_demo,
    _add_search,
    _add_lineage,
    _add_telemetry,
    _add_sources,
    _add_sync,
    _add_elt,
    _add_embed,
    _add_graph,
    _add_automations,
    _add_budgets,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="knowledge-ingest",
        description="Knowledge ingestion platform on Prefect 3: literature sync, ELT, embeddings, graph, telemetry.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in GROUPS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "flow"):
            return _run_flow(args, argv)
        return int(args.func(args))
    except CommandError as exc:
        sys.stderr.write(f"knowledge-ingest: error: {exc}\n")
        return 2


def _run_flow(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the command's flow and print its summary; exit 1 when the flow failed."""
    if not os.environ.get("PREFECT_API_URL"):
        from tasks.prefect_server import run_with_local_server
        from tasks.settings import load_settings

        settings = load_settings()
        return run_with_local_server(["-m", "flows.cli", *argv], (settings.data_dir / "prefect").resolve(),
                                     timeout_s=settings.prefect_startup_timeout_s)
    try:
        summary = args.flow(args)
    except Exception as exc:  # the flow run's state and logs are in Prefect; here, one line
        sys.stderr.write(f"knowledge-ingest: {args.command} failed: {type(exc).__name__}: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
