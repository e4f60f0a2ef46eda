"""Literature sources: page generators and parsers (plain Python, no Prefect)."""

from types import ModuleType

from tasks.sources import arxiv, openalex, pubmed

SOURCES: dict[str, ModuleType] = {m.NAME: m for m in (openalex, arxiv, pubmed)}
"""Source name → module providing NAME, ENTITY, iter_pages and parse_page (see base.py)."""


def get_source(name: str) -> ModuleType:
    """The source module called ``name``; a ValueError lists the known ones otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
