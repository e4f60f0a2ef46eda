"""The normalised document row every literature source is parsed into (DESIGN.md).

Parsers return plain dicts with the *content* fields; ``finalise`` validates one,
adds the lineage fields and the ``record_hash``. Nothing here imports Prefect.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime

import orjson
import pyarrow as pa

AUTHOR_TYPE = pa.struct([("name", pa.string()), ("orcid", pa.string()), ("id", pa.string())])

CONTENT_FIELDS: list[tuple[str, pa.DataType]] = [
    ("document_id", pa.string()),
    ("source", pa.string()),
    ("source_id", pa.string()),
    ("doi", pa.string()),
    ("title", pa.string()),
    ("abstract", pa.string()),
    ("publication_date", pa.date32()),
    ("updated_at", pa.timestamp("us", tz="UTC")),
    ("authors", pa.list_(AUTHOR_TYPE)),
    ("venue", pa.string()),
    ("topics", pa.list_(pa.string())),
    ("cited_by_count", pa.int64()),
    ("referenced_ids", pa.list_(pa.string())),
    ("url", pa.string()),
    ("license", pa.string()),
]
LINEAGE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("record_hash", pa.string()),
    ("run_id", pa.string()),
    ("ingested_at", pa.timestamp("us", tz="UTC")),
    ("raw_key", pa.string()),
]
REQUIRED = ("document_id", "source", "source_id", "title", "updated_at")
DOCUMENT_SCHEMA = pa.schema(
    [pa.field(n, t, nullable=n not in REQUIRED) for n, t in CONTENT_FIELDS + LINEAGE_FIELDS]
)
CONTENT_NAMES = [n for n, _ in CONTENT_FIELDS]
CONTENT_KEYS = frozenset(CONTENT_NAMES)

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", re.IGNORECASE)


class RecordError(ValueError):
    """A single record cannot be normalised; it is quarantined, the run goes on."""


@dataclass(frozen=True)
class Rejected:
    """A record a parser could not normalise, with the reason and a bounded excerpt."""

    reason: str
    source_id: str | None = None
    excerpt: str = ""


def normalise_doi(doi: str | None) -> str | None:
    """``https://doi.org/10.1/ABC`` → ``10.1/abc``; anything not starting with ``10.`` → None."""
    if not doi:
        return None
    doi = _DOI_PREFIX.sub("", doi.strip()).strip().lower()
    return doi if doi.startswith("10.") else None


def document_id(source: str, source_id: str, doi: str | None = None) -> str:
    """Canonical id: ``doi:<doi>`` when a DOI exists, else ``<source>:<source_id>``."""
    doi = normalise_doi(doi)
    return f"doi:{doi}" if doi else f"{source}:{source_id}"


def excerpt(value: object, limit: int = 2000) -> str:
    """A bounded, printable excerpt of a rejected record for quarantine files."""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text[:limit]


def record_hash(row: dict) -> str:
    """sha256 of the content fields, so an unchanged record hashes the same on every run."""
    content = row if row.keys() == CONTENT_KEYS else {name: row.get(name) for name in CONTENT_NAMES}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


_INT64 = range(-(2**63), 2**63)
_AUTHOR_KEYS = frozenset(f.name for f in AUTHOR_TYPE)


def _string(v) -> str | None:
    return None if type(v) is str else f"must be a string, got {type(v).__name__}"


def _int64(v) -> str | None:
    if type(v) is int and v in _INT64:  # not bool, which Arrow would silently take as 0/1
        return None
    return f"must be a 64-bit integer, got {type(v).__name__} {repr(v)[:40]}"


def _date(v) -> str | None:
    return None if type(v) is date else f"must be a date, got {type(v).__name__}"


def _timestamp(v) -> str | None:
    return None if isinstance(v, datetime) and v.tzinfo is not None else "must be a timezone-aware datetime"


def _strings(v) -> str | None:
    if type(v) is not list:
        return f"must be a list, got {type(v).__name__}"
    return None if all(type(x) is str for x in v) else "must be a list of strings"


def _authors(v) -> str | None:
    if type(v) is not list:
        return f"must be a list, got {type(v).__name__}"
    for a in v:
        if not (type(a) is dict and a.keys() <= _AUTHOR_KEYS
                and all(x is None or type(x) is str for x in a.values())):
            return "must be a list of {name, orcid, id} string objects"
    return None


def _checker(t: pa.DataType):
    if pa.types.is_list(t):
        return _strings if pa.types.is_string(t.value_type) else _authors
    return {pa.string(): _string, pa.int64(): _int64, pa.date32(): _date}.get(t, _timestamp)


_CHECKS = [(name, _checker(t)) for name, t in CONTENT_FIELDS]


def check_types(row: dict) -> None:
    """Raise RecordError naming the first content field whose value Arrow would refuse.

    Parsers pass API values through; one ``"title": 42`` must quarantine its record,
    not fail the window's Parquet writer. None always fits (REQUIRED is checked apart).
    """
    for name, check in _CHECKS:
        value = row[name]
        if value is not None:
            reason = check(value)
            if reason:
                raise RecordError(f"field {name!r} {reason}")


def finalise(row: dict, *, run_id: str, ingested_at: datetime, raw_key: str) -> dict:
    """Validate a parsed row in place and add lineage; raises RecordError naming the bad field.

    ``ingested_at`` must be timezone-aware (it is the same for a whole window).
    """
    for name in REQUIRED:
        if row.get(name) in (None, ""):
            raise RecordError(f"missing required field {name!r}")
    if row.keys() != CONTENT_KEYS:
        row = {name: row.get(name) for name in CONTENT_NAMES}
    for name in ("authors", "topics", "referenced_ids"):
        if row[name] is None:
            row[name] = []
    check_types(row)
    row["record_hash"] = record_hash(row)
    row["run_id"] = run_id
    row["ingested_at"] = ingested_at
    row["raw_key"] = raw_key
    return row
