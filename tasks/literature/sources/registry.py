"""The one list of sources: coded modules and declared YAMLs, with what operators need.

Everything that names sources reads it: ``tasks.literature.sources.SOURCES``, the literature-sync
flow's ``source`` parameter, the CLI, the demo, dbt's ``sources`` var (passed by
tasks/warehouse/dbt.py) and the prefect.yaml check in the tests. Adding a declared source is
adding ``declared/<name>.yaml``; adding a coded one is one ``Entry`` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tasks.literature.sources import arxiv, openalex, pubmed
from tasks.literature.sources.base import Source
from tasks.literature.sources.declared import load_declarations

Domain = Literal["literature", "biomedical", "economic", "climate"]
DAILY_0300_UTC = "0 3 * * *"


@dataclass(frozen=True)
class Entry:
    source: Source
    domain: Domain
    kind: Literal["coded", "declared"]
    per_second: float
    per_day: int | None
    schedule: str
    """Cron (UTC) of the source's daily deployment."""
    replayed: bool = False
    """Served offline by tasks/literature/sources/replay.py, so the demo syncs it."""

    @property
    def name(self) -> str:
        return self.source.NAME

    def describe(self) -> dict:
        return {"name": self.name, "domain": self.domain, "kind": self.kind,
                "entity": self.source.ENTITY, "table": self.source.TABLE.name, "per_second": self.per_second,
                "per_day": self.per_day, "schedule": self.schedule}


CODED: tuple[Entry, ...] = (
    # OpenAlex: 10 requests/s and 100,000 per day (https://docs.openalex.org/how-to-use-the-api/rate-limits-and-authentication).
    Entry(openalex, "literature", "coded", openalex.RATE_PER_S, 100_000, DAILY_0300_UTC, replayed=True),
    # arXiv: one request every 3 s (https://info.arxiv.org/help/api/tou.html); no daily quota.
    Entry(arxiv, "literature", "coded", arxiv.RATE_PER_S, None, DAILY_0300_UTC, replayed=True),
    # PubMed E-utilities: 3/s without a key (10/s with NCBI_API_KEY); no daily quota.
    Entry(pubmed, "literature", "coded", pubmed.RATE_PER_S, None, DAILY_0300_UTC, replayed=True),
)

REGISTRY: tuple[Entry, ...] = CODED + tuple(
    # A declaration with a Python parser is coded where it counts: its records are read by code.
    Entry(s, s.declaration.domain, "coded" if s.declaration.parser else "declared",
          s.declaration.rate_limits.per_second,
          s.declaration.rate_limits.per_day, s.declaration.schedule)
    for s in load_declarations()
)

_names = [e.name for e in REGISTRY]
if len(set(_names)) != len(_names):
    raise RuntimeError(f"source names must be unique: {_names}")

SOURCE_NAMES: tuple[str, ...] = tuple(_names)
