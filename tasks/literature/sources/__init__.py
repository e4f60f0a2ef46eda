"""Sources: page generators and parsers (plain Python, no Prefect), listed in registry.py."""

from tasks.literature.sources.base import Source
from tasks.literature.sources.registry import REGISTRY, SOURCE_NAMES

SOURCES: dict[str, Source] = {e.name: e.source for e in REGISTRY}
"""Source name → coded module or DeclaredSource providing the base.Source contract."""

__all__ = ["REGISTRY", "SOURCE_NAMES", "SOURCES", "get_source"]


def get_source(name: str) -> Source:
    """The source called ``name``; a ValueError lists the known ones otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
