"""Ask the knowledge base: ``python -m flows.search "protein folding with transformers" [-k 10]``.

Embeds the question with the same model resolution as ``embed-documents`` and prints
the nearest documents (score = cosine similarity) from the configured vector store.
"""

from __future__ import annotations

import argparse
import sys

from tasks.embed.backends import LocalBackend
from tasks.embed.model import ModelInfo, resolve_model
from tasks.embed.search import NoVectorsForModel, search
from tasks.settings import load_settings
from tasks.sinks import make_sink
from tasks.sinks.base import SearchHit


def ask(question: str, limit: int = 10, model: str | None = None) -> tuple[list[SearchHit], ModelInfo]:
    """The nearest documents to ``question``, and the model that embedded it."""
    settings = load_settings()
    info = resolve_model(model or settings.embed_model, settings.embed_offline_model,
                         allow_fallback=settings.embed_allow_fallback)
    sink = make_sink(settings)
    try:
        return search(question, sink, LocalBackend(info, device="cpu"), limit), info
    finally:
        sink.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.search", description=__doc__.splitlines()[0])
    parser.add_argument("question")
    parser.add_argument("-k", "--limit", type=int, default=10, help="how many documents (default 10)")
    parser.add_argument("--model", help="override KI_EMBED_MODEL")
    args = parser.parse_args(argv)
    try:
        hits, info = ask(args.question, args.limit, args.model)
    except NoVectorsForModel as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if info.fallback_reason:
        sys.stderr.write(f"warning: {info.requested} unavailable, using {info.model_id}\n")
    if not hits:
        sys.stdout.write("no documents embedded yet: run the embed-documents flow first\n")
        return 1
    for rank, hit in enumerate(hits, 1):
        sys.stdout.write(f"{rank:>3}. {hit.score:.3f}  {hit.document_id}\n     {hit.title}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
