"""Ask the knowledge base: ``python -m flows.search "protein folding with transformers" [-k 10]``.

Embeds the question with the same model resolution as ``embed-documents`` and prints
the nearest documents (score = cosine similarity) from the configured vector store.
"""

from __future__ import annotations

import argparse
import sys

from tasks.embed.backends import LocalBackend
from tasks.embed.model import resolve_model
from tasks.embed.search import NoVectorsForModel, search
from tasks.settings import load_settings
from tasks.sinks import make_sink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.search", description=__doc__.splitlines()[0])
    parser.add_argument("question")
    parser.add_argument("-k", "--limit", type=int, default=10, help="how many documents (default 10)")
    parser.add_argument("--model", help="override KI_EMBED_MODEL")
    args = parser.parse_args(argv)

    settings = load_settings()
    info = resolve_model(args.model or settings.embed_model, settings.embed_offline_model,
                         allow_fallback=settings.embed_allow_fallback)
    if info.fallback_reason:
        sys.stderr.write(f"warning: {info.requested} unavailable, using {info.model_id}\n")
    backend = LocalBackend(info, device="cpu")
    sink = make_sink(settings)
    try:
        hits = search(args.question, sink, backend, args.limit)
    except NoVectorsForModel as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    finally:
        sink.close()
    if not hits:
        sys.stdout.write("no documents embedded yet: run the embed-documents flow first\n")
        return 1
    for rank, hit in enumerate(hits, 1):
        sys.stdout.write(f"{rank:>3}. {hit.score:.3f}  {hit.document_id}\n     {hit.title}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
