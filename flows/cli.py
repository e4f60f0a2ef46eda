"""``knowledge-ingest``: the user's command beside ``prefect`` and ``dbt``.

Subcommands follow their conventions: ``knowledge-ingest GROUP COMMAND [options]``, ``--help`` at
every level, results on stdout, errors on stderr, exit status 0 on success, 1 when the command ran
but its answer is negative (a message that would be dead-lettered, nothing found), 2 for usage or
configuration errors. Each group is wired in its own ``_add_<group>`` function; the work itself
lives in ``flows/`` and ``tasks/``, imported only when the command runs, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


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
    """(issue 9) ``lineage DOCUMENT_ID``."""


def _add_telemetry(sub: argparse._SubParsersAction) -> None:
    """(issue 9) ``telemetry check FILE…``."""


def _add_elt(sub: argparse._SubParsersAction) -> None:
    """(issue 11) ``elt run --once``."""


GROUPS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_demo,
    _add_search,
    _add_lineage,
    _add_telemetry,
    _add_elt,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="knowledge-ingest",
        description="Knowledge ingestion platform: literature sync, telemetry, ELT on Prefect 3.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in GROUPS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CommandError as exc:
        sys.stderr.write(f"knowledge-ingest: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
