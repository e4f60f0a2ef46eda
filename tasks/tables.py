"""The normalised tables sources are parsed into, one per kind of record (DESIGN.md).

A ``Table`` is the contract between a source's parser, normalise (its Parquet
schema), the Postgres load (``lake.<name>``), dbt (source ``lake.<name>``, staged
per source, harmonised into ``mart``) and the run artifact (``key`` and
``record_hash`` say what a sync inserted or updated). Parsers return plain dicts of
content fields; ``Table.finalise`` validates one, adds lineage and the hash.
Every table is defined here (the document helpers are in tasks/documents.py). No Prefect import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

import orjson
import pyarrow as pa

AUTHOR_TYPE = pa.struct([("name", pa.string()), ("orcid", pa.string()), ("id", pa.string())])
LINEAGE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("record_hash", pa.string()),
    ("run_id", pa.string()),
    ("ingested_at", pa.timestamp("us", tz="UTC")),
    ("raw_key", pa.string()),
]
_INT64 = range(-(2**63), 2**63)
_AUTHOR_KEYS = frozenset(f.name for f in AUTHOR_TYPE)


@dataclass(frozen=True)
class Rejected:
    """A record a parser could not normalise, with the reason and a bounded excerpt."""

    reason: str
    source_id: str | None = None
    excerpt: str = ""


def excerpt(value: object, limit: int = 2000) -> str:
    """A bounded, printable excerpt of a rejected record for quarantine files."""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text[:limit]


class RecordError(ValueError):
    """A single record cannot be normalised; it is quarantined, the run goes on."""


def _string(v) -> str | None:
    return None if type(v) is str else f"must be a string, got {type(v).__name__}"


def _int64(v) -> str | None:
    if type(v) is int and v in _INT64:  # not bool, which Arrow would silently take as 0/1
        return None
    return f"must be a 64-bit integer, got {type(v).__name__} {repr(v)[:40]}"


def _float64(v) -> str | None:
    if type(v) is float or (type(v) is int and v in _INT64):
        return None
    return f"must be a number, got {type(v).__name__} {repr(v)[:40]}"


def _bool(v) -> str | None:
    return None if type(v) is bool else f"must be a boolean, got {type(v).__name__}"


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
    if pa.types.is_timestamp(t):
        return _timestamp
    return {pa.string(): _string, pa.int64(): _int64, pa.float64(): _float64,
            pa.bool_(): _bool, pa.date32(): _date}[t]


@dataclass(frozen=True)
class Table:
    name: str
    """Lake table, dbt source ``lake.<name>`` and Postgres table ``lake.<name>``."""
    key: str
    """The row's canonical id; a mart holds one row per key."""
    mart: str
    """The harmonised dbt mart built from this table's staging models."""
    content: tuple[tuple[str, pa.DataType], ...]
    required: tuple[str, ...]
    description: str
    schema: pa.Schema = field(init=False, repr=False, compare=False)
    content_names: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        names = [n for n, _ in self.content]
        missing = {self.key, "source", "source_id", *self.required} - set(names)
        if missing:
            raise ValueError(f"table {self.name}: no column for {sorted(missing)}")
        schema = pa.schema([pa.field(n, t, nullable=n not in self.required)
                            for n, t in self.content + tuple(LINEAGE_FIELDS)])
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "content_names", names)
        object.__setattr__(self, "_keys", frozenset(names))
        object.__setattr__(self, "_lists", tuple(n for n, t in self.content if pa.types.is_list(t)))
        object.__setattr__(self, "_checks", tuple((n, _checker(t)) for n, t in self.content))

    def record_hash(self, row: dict) -> str:
        """sha256 of the content fields, so an unchanged record hashes the same on every run."""
        content = row if row.keys() == self._keys else {n: row.get(n) for n in self.content_names}
        return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def check_types(self, row: dict) -> None:
        """Raise RecordError naming the first content field whose value Arrow would refuse.

        Parsers pass API values through; one ``"title": 42`` must quarantine its record,
        not fail the window's Parquet writer. None always fits (``required`` is checked apart).
        """
        for name, check in self._checks:
            value = row[name]
            if value is not None:
                reason = check(value)
                if reason:
                    raise RecordError(f"field {name!r} {reason}")

    def finalise(self, row: dict, *, run_id: str, ingested_at: datetime, raw_key: str) -> dict:
        """Validate a parsed row and add lineage; raises RecordError naming the bad field.

        ``ingested_at`` must be timezone-aware (it is the same for a whole window).
        """
        for name in self.required:
            if row.get(name) in (None, ""):
                raise RecordError(f"missing required field {name!r}")
        if row.keys() != self._keys:
            unknown = row.keys() - self._keys
            if unknown:
                raise RecordError(f"no column {sorted(unknown)[0]!r} in table {self.name}")
            row = {n: row.get(n) for n in self.content_names}
        for name in self._lists:
            if row[name] is None:
                row[name] = []
        self.check_types(row)
        row["record_hash"] = self.record_hash(row)
        row["run_id"] = run_id
        row["ingested_at"] = ingested_at
        row["raw_key"] = raw_key
        return row


_S, _I, _F, _B, _D = pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.date32()
_TS, _LIST = pa.timestamp("us", tz="UTC"), pa.list_(pa.string())


_DOCUMENT_FIELDS = (
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
)
_DOCUMENT_REQUIRED = ("document_id", "source", "source_id", "title", "updated_at")
DOCUMENTS = Table("documents", "document_id", "scientific_documents", _DOCUMENT_FIELDS, _DOCUMENT_REQUIRED,
                  "One scholarly document (work, article, preprint, dataset).")


def _table(name: str, key: str, mart: str, description: str, *columns: tuple[str, pa.DataType]) -> Table:
    """A table with the columns every non-document table shares: its key (``<source>:<source_id>``),
    the source, the id the source gives, and when the source last changed the record."""
    content = ((key, _S), ("source", _S), ("source_id", _S), *columns, ("updated_at", _TS))
    return Table(name, key, mart, content, (key, "source", "source_id"), description)


CLINICAL_TRIALS = _table(
    "clinical_trials", "trial_id", "clinical_trials", "One registered clinical study.",
    ("title", _S), ("official_title", _S), ("status", _S), ("phases", _LIST), ("study_type", _S),
    ("conditions", _LIST), ("interventions", _LIST), ("sponsor", _S),
    ("start_date", _S), ("completion_date", _S), ("enrollment", _I), ("url", _S),
)
DRUG_ADVERSE_EVENTS = _table(
    "drug_adverse_events", "event_id", "drug_adverse_events", "One adverse-event safety report.",
    ("received_date", _D), ("serious", _B), ("country", _S), ("patient_sex", _S),
    ("drugs", _LIST), ("reactions", _LIST),
)
DRUG_LABELS = _table(
    "drug_labels", "label_id", "drug_labels", "One version of a drug's product label.",
    ("set_id", _S), ("version", _S), ("brand_names", _LIST), ("generic_names", _LIST),
    ("manufacturer", _S), ("effective_date", _D), ("indications", _S), ("warnings", _S),
)
INDICATOR_OBSERVATIONS = _table(
    "indicator_observations", "observation_id", "indicator_observations",
    "One value of one statistical indicator for one geography and period.",
    ("indicator", _S), ("indicator_name", _S), ("geography", _S), ("geography_name", _S),
    ("period", _S), ("value", _F), ("unit", _S),
)
WEATHER_OBSERVATIONS = _table(
    "weather_observations", "observation_id", "weather_observations",
    "One measured value of one element at one station and time.",
    ("station", _S), ("observed_at", _TS), ("element", _S), ("value", _F), ("unit", _S),
)
WEATHER_STATIONS = _table(
    "weather_stations", "station_id", "weather_stations", "One weather station.",
    ("name", _S), ("latitude", _F), ("longitude", _F), ("elevation_m", _F),
    ("first_date", _D), ("last_date", _D),
)
PROTEINS = _table(
    "proteins", "protein_id", "proteins", "One protein entry.",
    ("name", _S), ("genes", _LIST), ("organism", _S), ("taxon_id", _I), ("length", _I), ("reviewed", _B),
)
DRUG_MECHANISMS = _table(
    "drug_mechanisms", "mechanism_id", "drug_mechanisms", "One drug's mechanism of action on a target.",
    ("molecule_id", _S), ("target_id", _S), ("action_type", _S), ("mechanism", _S),
)

TABLES: dict[str, Table] = {t.name: t for t in (
    DOCUMENTS, CLINICAL_TRIALS, DRUG_ADVERSE_EVENTS, DRUG_LABELS, INDICATOR_OBSERVATIONS,
    WEATHER_OBSERVATIONS, WEATHER_STATIONS, PROTEINS, DRUG_MECHANISMS,
)}
