"""Declared REST sources: one YAML file instead of a Python module (no Prefect import).

A ``Declaration`` (validated with pydantic) names the endpoint, the parameters, the
auth, the paginator, where the records are, the incremental window parameters, the
rate limits, the table its records become (tasks.tables) and how record fields map
onto that table's columns. ``DeclaredSource`` turns it into an object with the same
contract as a coded module (``NAME``, ``ENTITY``, ``FORMAT``, ``TABLE``,
``iter_pages``, ``parse_page``; see base.py), so landing, normalise, watermarks and
resume work unchanged. Where a mapping cannot say it (one record holding several
observations, a JSON-stat or SDMX cube), ``parser`` names a Python function that
turns a record into rows: fetching and paging stay declared. Responses are JSON or XML
(``format: xml``, parsed with defusedxml and read through the same paths, see
``xml_document``).

Why not dlt's REST client paginators (``dlt.sources.helpers.rest_client``): they are
written against ``requests.Request``/``requests.Response`` (``update_state(response,
data)`` reads a requests response, ``update_request(request)`` mutates a requests
request), while every request here must go through ``tasks.literature.sources.http.fetch``
(httpx, our shared rate limiter, retries honouring ``Retry-After``, the response
size bound, secret redaction), and each landed page needs a JSON resume token so an
interrupted window continues after its last landed page. dlt's paginators keep
their position in private attributes with no serialisable state, and using them
would mean adapting httpx responses into requests objects plus installing dlt's
dependency tree for about a hundred lines of logic. The paginators below are
small, stateless functions of (response, page) → next request or stop.

Paths are dotted keys into the JSON (``message.items``); an integer segment indexes
a list (``title.0``) and ``*`` maps over a list (``authors.*.name``; a single value counts
as a list of one, which is how XML writes a repeated element that occurs once). A field may list
several paths: the first that yields a value wins. A path starting with ``$.`` is read
from the page instead of the record (World Bank's ``[metadata, records]`` pages).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
from xml.etree.ElementTree import Element

import httpx
import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.documents import normalise_doi
from tasks.literature.sources.base import Page, PageError, SourceError
from tasks.literature.sources.http import (
    SECRET_PARAMS,
    RateLimiter,
    fetch,
    last_day,
    parse_xml,
    shared_limiter,
)
from tasks.settings import Settings
from tasks.tables import DOCUMENTS, TABLES, Rejected, Table, excerpt

log = logging.getLogger(__name__)

DECLARED_DIR = Path(__file__).resolve().parent / "declared"
"""Package data: one ``<name>.yaml`` per declared source."""

_MISSING = object()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(_Strict):
    """An API key read from the environment variable ``env`` when pages are fetched."""

    location: Literal["header", "query"]
    name: str
    """Header or query parameter that carries the key."""
    env: str
    required: bool = False
    """Without the key the source still answers (at a lower rate) unless this is set."""


class Window(_Strict):
    """Incremental window: ``params`` values are templates over ``{since}``, ``{until}``
    and ``{query_and}`` (``(<query>) AND `` or nothing, for search syntaxes that put the
    window into the query itself), with dates written in ``date_format``.

    ``until: inclusive`` writes the last day of the half-open window ``[since, until)``
    (what most APIs mean by "to"), ``exclusive`` the window's end itself.
    """

    params: dict[str, str]
    date_format: str = "%Y-%m-%d"
    until: Literal["inclusive", "exclusive"] = "inclusive"


class CursorPaginator(_Strict):
    """Token in the body (Crossref ``next-cursor``, Europe PMC ``nextCursorMark``…)."""

    type: Literal["cursor"]
    param: str
    path: str
    initial: str | None = None
    """Sent on the first request (``*`` for Crossref and Europe PMC); None sends nothing."""


class NextUrlPaginator(_Strict):
    """The next page's full URL in the body (DataCite ``links.next``)."""

    type: Literal["next_url"]
    path: str


class LinkHeaderPaginator(_Strict):
    """RFC 8288 ``Link: <…>; rel="next"``."""

    type: Literal["link_header"]


class OffsetPaginator(_Strict):
    """offset/limit; stops past ``total_path`` (when given), on a short or empty page."""

    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)
    base: int = Field(0, ge=0)
    """The first record's offset: 0, or 1 where offsets count from one (NOAA CDO ``offset=1``).
    ``total_path`` and ``max_offset`` count records, whatever the base."""
    total_path: str | None = None
    max_offset: int | None = None
    """Some APIs refuse deep offsets (Semantic Scholar: offset + limit ≤ 1000)."""
    beyond_max_offset: Literal["stop", "error"] = "stop"
    """When ``total_path`` says the window holds more than ``max_offset`` reaches: ``stop``
    there, or ``error`` on the first page (nothing landed) naming the total, so a window too
    wide to page is narrowed instead of silently cut short (openFDA: skip ≤ 25000)."""


class PagePaginator(_Strict):
    """Page number from ``base``; stops after ``pages_path``'s page or on an empty page."""

    type: Literal["page"]
    param: str = "page"
    base: int = 1
    size_param: str | None = None
    size: int | None = None
    pages_path: str | None = None


class SinglePage(_Strict):
    type: Literal["none"]


Paginator = Annotated[
    CursorPaginator | NextUrlPaginator | LinkHeaderPaginator | OffsetPaginator | PagePaginator | SinglePage,
    Field(discriminator="type"),
]

Transform = Literal["date", "datetime", "date_parts", "int", "float", "bool", "strip_tags", "string"]


class FieldSpec(_Strict):
    path: list[str] = []
    """Candidate paths; the first yielding a value wins."""
    parts: list[str] = []
    """Instead of ``path``: every path's value joined with ``:`` (a key made of several
    fields, such as indicator:country:year); absent when any part is."""
    transform: Transform | None = None
    format: str | None = None
    """``strptime`` format for ``date``/``datetime`` values not in ISO 8601 (``%Y%m%d``)."""
    values: dict[str, str | int | float | bool | None] | None = None
    """Code → value (openFDA ``serious``: ``{"1": true, "2": false}``); other codes are refused."""
    null_values: list[str] = []
    """Values meaning "no value" (FRED writes ``"."`` for a missing observation)."""
    pattern: str | None = None
    """Regular expression read from the value (its first group, else the whole match), for
    ids in another convention (arXiv's ``http://arxiv.org/abs/<id>v<n>`` → ``<id>``); a value
    it does not match counts as absent."""
    template: str | None = None
    """``str.format`` template for the value: ``https://europepmc.org/article/MED/{}``."""
    const: str | None = None
    """Instead of ``path``/``parts``: a value the declaration fixes because its pages never
    carry it (FRED observation pages do not name the series the request asked for)."""

    @field_validator("path", "parts", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_of_path_or_parts(self):
        if [bool(self.path), bool(self.parts), self.const is not None].count(True) != 1:
            raise ValueError("give one of path, parts or const")
        return self


class AuthorsSpec(_Strict):
    path: str
    """The list of author objects."""
    name: list[str]
    """Paths inside an author, joined with a space (``[given, family]``)."""
    orcid: str | None = None
    id: str | None = None


class Mapping(_Strict):
    """Record → documents row. Missing ``source_id``, ``title`` or ``updated_at``
    quarantine the record with the reason; ``document_id`` is derived (tasks.documents)."""

    source_id: FieldSpec
    title: FieldSpec
    updated_at: FieldSpec
    doi: FieldSpec | None = None
    abstract: FieldSpec | None = None
    publication_date: FieldSpec | None = None
    venue: FieldSpec | None = None
    topics: FieldSpec | None = None
    cited_by_count: FieldSpec | None = None
    referenced_ids: FieldSpec | None = None
    url: FieldSpec | None = None
    license: FieldSpec | None = None
    authors: AuthorsSpec | None = None


class NoData(_Strict):
    """An error response that means "no records in this window" (openFDA answers an empty
    search with ``404 {"error": {"code": "NOT_FOUND", "message": "No matches found!"}}``).
    Both the status and the body text must match; any other error still fails the run."""

    status: int = Field(ge=400, le=499)
    contains: str = Field(min_length=1)


class RateLimits(_Strict):
    per_second: float = Field(gt=0)
    per_day: int | None = Field(None, gt=0)


class Declaration(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    entity: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    domain: Literal["literature", "biomedical", "economic", "climate"]
    description: str
    docs: str
    """Where the API is documented."""
    schedule: str
    """Default cron of the daily deployment."""
    format: Literal["json", "xml"] = "json"
    table: str = "documents"
    """The table (tasks.tables) its records become."""
    base_url: str
    endpoint: str = ""
    """Path after ``base_url``; ``{query}`` in it is the sync's query as one path segment
    (NWS ``/stations/{query}/observations``), which needs ``query_required``."""
    params: dict[str, str | int | float | bool] = {}
    query_param: str | None = None
    """Where the sync's free-text ``query`` goes; empty queries send nothing."""
    query_required: bool = False
    """The endpoint refuses requests without a query (Semantic Scholar search)."""
    contact_param: str | None = None
    """Parameter given ``KI_CONTACT_EMAIL`` (Crossref's polite pool); never logged."""
    auth: Auth | None = None
    window: Window
    paginator: Paginator
    records: str | None = None
    """Path of the record list in a page; without it (a ``parser`` source) the page is one record."""
    records_optional: bool = False
    """A page without the record list has no records (NOAA CDO answers a window without data
    ``{}``); otherwise such a page fails the run."""
    rate_limits: RateLimits
    no_data: NoData | None = None
    """An error response meaning the window (or the rest of it) has no records."""
    mapping: Mapping | None = None
    """Record → row of the documents table."""
    columns: dict[str, FieldSpec] = {}
    """Column → field, for any other table; its key and ``source`` are derived
    (``<source>:<source_id>``), never mapped."""
    parser: str | None = None
    """``module:function`` turning one record (and its page) into rows of the table."""

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + self.endpoint

    def url_for(self, query: str) -> str:
        """The endpoint's URL for ``query``: quoted whole, it can name no other path."""
        return self.url.replace("{query}", quote(query, safe=""))

    @model_validator(mode="after")
    def _mapping_fits_table(self):
        if "{query}" in self.endpoint and not self.query_required:
            raise ValueError("an endpoint with {query} needs query_required: true")
        table = TABLES.get(self.table)
        if table is None:
            raise ValueError(f"unknown table {self.table!r}; tables: {sorted(TABLES)}")
        if self.parser:
            if self.mapping or self.columns:
                raise ValueError("give a parser, or mapping/columns, not both")
            return self
        if self.records is None:
            raise ValueError("records is required without a parser")
        if table is DOCUMENTS:
            if self.mapping is None or self.columns:
                raise ValueError("a documents source gives a mapping (source_id, title, updated_at …), not columns")
            return self
        if self.mapping is not None:
            raise ValueError(f"table {self.table} takes columns, not a documents mapping")
        unknown = set(self.columns) - (set(table.content_names) - {table.key, "source"})
        if unknown:
            raise ValueError(f"table {self.table} has no mappable column {sorted(unknown)}")
        if "source_id" not in self.columns:
            raise ValueError("columns needs source_id")
        return self


def load_declaration(text: str) -> Declaration:
    """Validate one YAML declaration; a pydantic ValidationError names what is wrong."""
    return Declaration.model_validate(yaml.safe_load(text))


def load_declarations(folder: Path = DECLARED_DIR) -> list[DeclaredSource]:
    """Every ``*.yaml`` of ``folder``, sorted by file name; the file name must be the source name."""
    sources = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            decl = load_declaration(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        if decl.name != path.stem:
            raise ValueError(f"{path}: declares source {decl.name!r}; the file must be named {decl.name}.yaml")
        sources.append(DeclaredSource(decl))
    return sources


# --- paths and values -------------------------------------------------------------------
#
# A declaration's paths are compiled once, when its DeclaredSource is built: each dotted
# path becomes a reader function (split once, list indexes parsed once), each field spec a
# function of (record, page). ``get_path`` reads one path uncompiled (paginators, once a page).


def get_path(doc: Any, path: str) -> Any:
    """The value at a dotted ``path`` (see the module docstring); ``_MISSING`` when absent."""
    return _walk(doc, path.split(".") if path else [])


def _walk(value: Any, parts: list[str]) -> Any:
    for i, part in enumerate(parts):
        if part == "*":
            value = _as_list(value)
            if value is _MISSING:
                return _MISSING
            found = [_walk(v, parts[i + 1:]) for v in value]
            return [v for v in found if v is not _MISSING and v is not None]
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _as_list(value: Any) -> Any:
    if isinstance(value, list) or value is _MISSING:
        return value
    return _MISSING if value is None else [value]


def _identity(value: Any) -> Any:
    return value


def compile_path(path: str) -> Callable[[Any], Any]:
    """``get_path(doc, path)`` as a function of ``doc``, the path split and dispatched once."""
    return _compile_walk(tuple(path.split(".")) if path else ())


def _compile_walk(parts: tuple[str, ...]) -> Callable[[Any], Any]:
    if not parts:
        return _identity
    if "*" in parts:
        i = parts.index("*")
        head, tail = _compile_walk(parts[:i]), _compile_walk(parts[i + 1:])

        def star(value: Any) -> Any:
            value = _as_list(head(value))
            if value is _MISSING:
                return _MISSING
            found = [tail(v) for v in value]
            return [v for v in found if v is not _MISSING and v is not None]
        return star
    steps = []
    for part in parts:
        if not part.lstrip("-").isdigit():
            steps.append((part, None))
            continue
        try:
            steps.append((part, int(part)))
        except ValueError:  # a digit int() does not read ("²"): read as the uncompiled walk does
            return lambda value: _walk(value, list(parts))
    return _unrolled(tuple(steps))


def _unrolled(steps: tuple[tuple[str, int | None], ...]) -> Callable[[Any], Any]:
    """The walk of a path without ``*`` as one function, its steps written out (no loop, no
    per-step call): a dict step reads the key, a list step (digit segments only) the index."""
    lines = ["def walk(value):"]
    namespace: dict[str, Any] = {"_MISSING": _MISSING, "dict": dict, "list": list}
    for n, (key, index) in enumerate(steps):
        namespace[f"k{n}"] = key
        lines += ["    if isinstance(value, dict):",
                  f"        value = value.get(k{n}, _MISSING)",
                  "        if value is _MISSING:",
                  "            return _MISSING"]
        if index is not None:
            namespace[f"i{n}"] = index
            lines += ["    elif isinstance(value, list):",
                      f"        if -len(value) <= i{n} < len(value):",
                      f"            value = value[i{n}]",
                      "        else:",
                      "            return _MISSING"]
        lines += ["    else:",
                  "        return _MISSING"]
    lines.append("    return value")
    exec("\n".join(lines), namespace)  # noqa: S102 - built from the path's own segments as data
    return namespace["walk"]


_TAG = re.compile(r"<[^>]+>")


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _to_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__} (map codes with values:)")
    return value


def _strip_tags(value: Any) -> Any:
    return " ".join(_TAG.sub(" ", value).split()) or None


def _to_date(value: Any) -> date:
    return date.fromisoformat(value[:10])


def _to_datetime(value: Any) -> datetime:
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time(), timezone.utc)
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    tz = ts.tzinfo
    if tz is timezone.utc:
        return ts
    return ts.replace(tzinfo=timezone.utc) if tz is None else ts.astimezone(timezone.utc)


def _date_parts(value: Any) -> date | None:
    # Crossref's [year, month, day]; a partial date is not invented into a day.
    if len(value) == 3 and all(isinstance(p, int) for p in value):
        return date(*value)
    return None


def _strptime(fmt: str, as_date: bool) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        ts = datetime.strptime(value, fmt)
        if as_date:
            return ts.date()
        return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
    return convert


_TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "string": str, "int": _to_int, "float": _to_float, "bool": _to_bool, "strip_tags": _strip_tags,
    "date": _to_date, "datetime": _to_datetime, "date_parts": _date_parts,
}


def _transformer(transform: Transform | None, fmt: str | None = None) -> Callable[[Any], Any] | None:
    """The function converting one mapped value (None: kept as it is); it raises
    ValueError/TypeError on a value of the wrong shape. Numbers may come as strings
    (``"12.5"``), the way many APIs send them."""
    if transform is None:
        return None
    if fmt and transform in ("date", "datetime"):
        return _strptime(fmt, transform == "date")
    return _TRANSFORMS[transform]


_SKIP = object()
"""A candidate value that does not count (empty, a null value, no pattern match): try the next."""


def _compile_value(spec: FieldSpec) -> Callable[[Any], Any]:
    """One candidate value → the field's value, or ``_SKIP``."""
    null_values = spec.null_values
    pattern = re.compile(spec.pattern) if spec.pattern is not None else None
    group = 1 if pattern is not None and pattern.groups else 0
    values = spec.values
    convert = _transformer(spec.transform, spec.format)
    template = spec.template.format if spec.template else None

    if not null_values and pattern is None and values is None and template is None:
        if convert is None:
            def plain(value: Any) -> Any:
                return _SKIP if value is _MISSING or value in (None, "", []) else value
            return plain

        def converted(value: Any) -> Any:
            if value is _MISSING or value in (None, "", []):
                return _SKIP
            value = convert(value)
            return _SKIP if value is None else value
        return converted

    def general(value: Any) -> Any:
        if value is _MISSING or value in (None, "", []) or value in null_values:
            return _SKIP
        if pattern is not None:
            found = pattern.search(str(value))
            if found is None:
                return _SKIP
            value = found.group(group)
        if values is not None:
            key = str(value)
            if key not in values:
                raise ValueError(f"unknown code {key[:40]!r}; known: {sorted(values)}")
            value = values[key]
            if value is None:
                return _SKIP
        if convert is not None:
            value = convert(value)
            if value is None:
                return _SKIP
        return template(value) if template else value
    return general


def _none(record: Any, page: Any = None) -> None:
    return None


def compile_field(spec: FieldSpec | None) -> Callable[..., Any]:
    """``(record, page=None)`` → the first path of ``spec`` yielding a non-empty value,
    transformed; None if none does."""
    if spec is None:
        return _none
    if spec.const is not None:
        const = spec.const
        return lambda record, page=None: const
    readers = tuple((p.startswith("$."), compile_path(p[2:] if p.startswith("$.") else p))
                    for p in (spec.parts or spec.path))
    value_of = _compile_value(spec)
    if spec.parts:
        def joined(record: Any, page: Any = None) -> Any:
            parts = [read(page) if on_page else read(record) for on_page, read in readers]
            if any(p is _MISSING or p in (None, "") for p in parts):
                return None
            value = value_of(":".join(str(p) for p in parts))
            return None if value is _SKIP else value
        return joined
    if len(readers) == 1:
        on_page, read = readers[0]
        if on_page:
            def one_page_path(record: Any, page: Any = None) -> Any:
                value = value_of(read(page))
                return None if value is _SKIP else value
            return one_page_path

        def one_path(record: Any, page: Any = None) -> Any:
            value = value_of(read(record))
            return None if value is _SKIP else value
        return one_path
    if not any(on_page for on_page, _ in readers):
        reads = tuple(read for _, read in readers)

        def first_path(record: Any, page: Any = None) -> Any:
            for read in reads:
                value = value_of(read(record))
                if value is not _SKIP:
                    return value
            return None
        return first_path

    def first_of(record: Any, page: Any = None) -> Any:
        for on_page, read in readers:
            value = value_of(read(page) if on_page else read(record))
            if value is not _SKIP:
                return value
        return None
    return first_of


def compile_authors(spec: AuthorsSpec | None) -> Callable[[dict], list[dict]]:
    """record → its authors as ``{name, orcid, id}`` dicts, the paths compiled once."""
    if spec is None:
        return lambda record: []
    people_of = compile_path(spec.path)
    names = tuple(compile_path(p) for p in spec.name)
    orcid_of = compile_path(spec.orcid) if spec.orcid else None
    id_of = compile_path(spec.id) if spec.id else None

    def authors_of(record: dict) -> list[dict]:
        people = _as_list(people_of(record))
        if people is _MISSING:
            return []
        authors = []
        for person in people:
            parts = [name(person) for name in names]
            name = " ".join(str(p) for p in parts if p is not _MISSING and p not in (None, "")) or None
            orcid = orcid_of(person) if orcid_of else None
            aid = id_of(person) if id_of else None
            authors.append({
                "name": name,
                "orcid": normalise_orcid(orcid) if isinstance(orcid, str) else None,
                "id": str(aid) if aid not in (None, _MISSING) else None,
            })
        return authors
    return authors_of


def normalise_orcid(value: str) -> str:
    """``https://orcid.org/0000-…`` or ``0000-…`` → ``0000-…``."""
    return value.rstrip("/").rpartition("/")[2]


# --- the source ----------------------------------------------------------------------------


class DeclaredSource:
    """A declaration behaving like a coded source module (base.Source)."""

    def __init__(self, declaration: Declaration):
        self.declaration = declaration
        self.NAME = declaration.name
        self.ENTITY = declaration.entity
        self.FORMAT = declaration.format
        self.TABLE: Table = TABLES[declaration.table]
        self._parser = _import_parser(declaration.parser) if declaration.parser else None
        self.ONE_ROW_PER_RECORD = self._parser is None
        self._compile()

    def _compile(self) -> None:
        """Readers for the declaration's paths and fields, built once (parse_page runs per record)."""
        d = self.declaration
        self._records_of = compile_path(d.records) if d.records else None
        self._columns = tuple((column, compile_field(spec)) for column, spec in d.columns.items())
        sid_spec = d.mapping.source_id if d.mapping else d.columns.get("source_id")
        self._sid_spec = sid_spec
        self._sid_of = compile_field(sid_spec) if sid_spec is not None else None
        self._sid_paths = _paths(sid_spec) if sid_spec is not None else ""
        m = d.mapping
        if m is not None:
            self._doc = {name: compile_field(getattr(m, name)) for name in (
                "source_id", "title", "updated_at", "doi", "abstract", "publication_date", "venue",
                "topics", "cited_by_count", "referenced_ids", "url", "license")}
            self._doc_paths = {name: _paths(getattr(m, name)) for name in ("title", "updated_at")}
            self._authors_of = compile_authors(m.authors)

    def __repr__(self) -> str:
        return f"DeclaredSource({self.NAME!r})"

    # pages ----------------------------------------------------------------------------

    def request(self, settings: Settings, *, query: str, since: date, until: date) -> tuple[dict, dict, frozenset]:
        """First-request parameters, headers and the parameter names to keep out of logs."""
        d = self.declaration
        end = last_day(since, until)
        if end is None:
            raise ValueError(f"empty window [{since}, {until})")
        values = {
            "since": since.strftime(d.window.date_format),
            "until": (end if d.window.until == "inclusive" else until).strftime(d.window.date_format),
            "query_and": f"({query}) AND " if query else "",
        }
        if d.query_required and not query:
            raise ValueError(f"{self.NAME} needs a query (its endpoint refuses requests without one)")
        params: dict[str, object] = dict(d.params)
        params |= {k: v.format(**values) for k, v in d.window.params.items()}
        if query and d.query_param:
            params[d.query_param] = query
        if d.contact_param and settings.contact_email:
            params[d.contact_param] = settings.contact_email
        headers: dict[str, str] = {}
        secrets = set(SECRET_PARAMS)
        if d.auth:
            key = os.environ.get(d.auth.env, "")
            if not key and d.auth.required:
                raise SourceError(self.NAME, d.url, None, f"no API key: set {d.auth.env}")
            if key and d.auth.location == "header":
                headers[d.auth.name] = key
            elif key:
                params[d.auth.name] = key
            secrets.add(d.auth.name.lower())
        if d.contact_param:
            secrets.add(d.contact_param.lower())
        return params, headers, frozenset(secrets)

    def iter_pages(
        self,
        client: httpx.Client,
        settings: Settings,
        *,
        query: str,
        since: date,
        until: date,
        resume: dict | None = None,
        limiter: RateLimiter | None = None,
    ) -> Iterator[Page]:
        """Follow the declared paginator from the first page (or ``resume``) to the end.

        Stops on a page without records, on the paginator's last-page condition, and on
        a next token or URL already seen (an API answering the same page again has
        nothing more to give). ``resume`` is the token of the last landed page.
        """
        if last_day(since, until) is None:
            return
        d = self.declaration
        params, headers, secrets = self.request(settings, query=query, since=since, until=until)
        limiter = limiter or shared_limiter(self.NAME, d.rate_limits.per_second)
        state = dict(resume) if resume else _first_state(d.paginator)
        seen: set[str] = set()
        endpoint = d.url_for(query)
        while state is not None:
            url, page_params = _next_request(d, endpoint, params, state)
            mark = orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()
            if mark in seen:
                log.warning("%s: paginator repeated %s; stopping", self.NAME, mark)
                return
            seen.add(mark)
            try:
                fetched = fetch(client, self.NAME, url, page_params, limiter=limiter, settings=settings,
                                secrets=secrets, headers=headers)
            except SourceError as exc:
                if d.no_data and exc.status == d.no_data.status and d.no_data.contains in exc.detail:
                    log.info("%s: HTTP %s %s: no (more) records in the window", self.NAME, exc.status,
                             d.no_data.contains)
                    return
                raise
            try:
                doc = _load(fetched.body, self.NAME, d.format)
                records = _records(doc, d, self.NAME) if d.records else [doc]
            except PageError as exc:
                raise SourceError(self.NAME, fetched.url, fetched.status_code, str(exc)) from exc
            if not records:
                return
            following = _after(d, state, doc, records, fetched.headers, self.NAME, fetched.url)
            state = None if following == state else following  # Europe PMC's last page
            yield Page(body=fetched.body, url=fetched.url, params=fetched.params,
                       record_count=len(records), resume=state)

    # records --------------------------------------------------------------------------

    def parse_page(self, body: bytes) -> Iterator[dict | Rejected]:
        """Normalised rows (or ``Rejected``) of the records of a landed page."""
        d = self.declaration
        page = _load(body, self.NAME, d.format)
        records = _records(page, d, self.NAME, self._records_of) if d.records else [page]
        parser = self._parser
        documents = self.TABLE is DOCUMENTS
        parse_document, parse_row = self.parse_document, self.parse_row
        for record in records:
            if not isinstance(record, dict):
                yield Rejected(reason="record is not a JSON object", excerpt=excerpt(record))
                continue
            try:
                if parser:
                    yield from (self._keyed(row) for row in parser(record, page))
                elif documents:
                    yield parse_document(record)
                else:
                    yield parse_row(record, page)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
                sid = None if parser else _field_or_none(record, self._sid_of, page)
                yield Rejected(reason=f"unreadable record: {type(exc).__name__}: {exc}",
                               source_id=sid, excerpt=excerpt(record))

    def _keyed(self, row: dict | Rejected) -> dict | Rejected:
        """A table row with ``source`` and the key (``<source>:<source_id>``) filled in."""
        if isinstance(row, Rejected):
            return row
        if row.get("source_id") in (None, ""):
            return Rejected(reason="missing source_id", excerpt=excerpt(row))
        row["source_id"] = sid = str(row["source_id"])
        row["source"] = self.NAME
        row[self.TABLE.key] = f"{self.NAME}:{sid}"
        return row

    def parse_row(self, record: dict, page: Any) -> dict | Rejected:
        """A row of a non-document table: every mapped column; the key and source derived."""
        row = {column: read(record, page) for column, read in self._columns}
        if row["source_id"] is None:
            return Rejected(reason=f"missing source_id ({self._sid_paths})", excerpt=excerpt(record))
        return self._keyed(row)

    def parse_document(self, record: dict) -> dict | Rejected:
        f = self._doc
        sid = f["source_id"](record)
        if sid is None:
            return Rejected(reason=f"missing source_id ({self._sid_paths})", excerpt=excerpt(record))
        sid = str(sid)
        title = f["title"](record)
        if title is None:
            return Rejected(reason=f"missing title ({self._doc_paths['title']})", source_id=sid,
                            excerpt=excerpt(record))
        updated_at = f["updated_at"](record)
        if updated_at is None:
            return Rejected(reason=f"missing updated_at ({self._doc_paths['updated_at']})", source_id=sid,
                            excerpt=excerpt(record))
        raw_doi = f["doi"](record)
        doi = normalise_doi(raw_doi) if isinstance(raw_doi, str) else None
        topics = f["topics"](record)
        refs = f["referenced_ids"](record)
        return {
            # document_id(): normalise_doi of a normalised DOI (or None) is that DOI
            "document_id": f"doi:{doi}" if doi else f"{self.NAME}:{sid}",
            "source": self.NAME,
            "source_id": sid,
            "doi": doi,
            "title": title,
            "abstract": f["abstract"](record),
            "publication_date": f["publication_date"](record),
            "updated_at": updated_at,
            "authors": self._authors_of(record),
            "venue": f["venue"](record),
            "topics": topics if isinstance(topics, list) else ([topics] if topics else []),
            "cited_by_count": f["cited_by_count"](record),
            "referenced_ids": refs if isinstance(refs, list) else ([refs] if refs else []),
            "url": f["url"](record),
            "license": f["license"](record),
        }


def _field_or_none(record: dict, read: Callable[..., Any] | None, page: Any = None) -> str | None:
    """A compiled field's value as a string, None when absent or unreadable."""
    if read is None:
        return None
    try:
        value = read(record, page)
    except (TypeError, ValueError):
        return None
    return None if value is None else str(value)


def _paths(spec: FieldSpec) -> str:
    return ", ".join(spec.path or spec.parts)


def _import_parser(ref: str):
    """``package.module:function`` → the function (declarations name only project code)."""
    module, _, name = ref.partition(":")
    if not module.startswith("tasks.literature.sources.") or not name:
        raise ValueError(f"parser {ref!r} must be tasks.literature.sources.<module>:<function>")
    return getattr(importlib.import_module(module), name)


def _load(body: bytes, source: str, fmt: str = "json") -> Any:
    if fmt == "xml":
        return xml_document(parse_xml(body, source))
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PageError(f"{source}: page is not valid JSON ({exc})") from exc


def _records(doc: Any, d: Declaration, source: str, read: Callable[[Any], Any] | None = None) -> list:
    """The record list at ``d.records``; an explicit null there is an empty page (World Bank
    answers ``[{"pages": 0, …}, null]`` when nothing matches), a missing one only where the
    declaration says so (``records_optional``, or XML, which writes no element for none)."""
    records = read(doc) if read is not None else get_path(doc, d.records)
    if d.format == "xml":
        # XML has no list syntax: an element that occurs once is one value.
        records = [] if records is _MISSING else _as_list(records)
    if records is None or (records is _MISSING and d.records_optional):
        return []
    if not isinstance(records, list):
        raise PageError(f"{source}: page has no record list at {d.records!r}")
    return records


def xml_document(root: Element) -> dict:
    """An XML tree as the nested dicts paths read: ``{root: …}``, each element by its local
    name (namespaces dropped: ``opensearch:totalResults`` → ``totalResults``), attributes as
    ``@name``, text as ``#text`` beside attributes or children, else the element is its text;
    an element repeated under one parent becomes a list."""
    def convert(element: Element) -> Any:
        node: dict[str, Any] = {f"@{_local(k)}": v for k, v in element.attrib.items()}
        for child in element:
            name, value = _local(child.tag), convert(child)
            if name not in node:
                node[name] = value
            elif isinstance(node[name], list):
                node[name].append(value)
            else:
                node[name] = [node[name], value]
        text = (element.text or "").strip()
        if not node:
            return text or None
        if text:
            node["#text"] = text
        return node
    return {_local(root.tag): convert(root)}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# --- paginators: state (the JSON resume token) → request, and page → next state -----------


def _first_state(p) -> dict:
    if p.type == "cursor":
        return {"cursor": p.initial} if p.initial is not None else {}
    if p.type == "offset":
        return {"offset": p.base}
    if p.type == "page":
        return {"page": p.base}
    return {}


def _next_request(d: Declaration, endpoint: str, params: dict, state: dict) -> tuple[str, dict | None]:
    """URL and parameters of the page ``state`` points at (``endpoint`` unless the server gave one)."""
    p = d.paginator
    if "url" in state:  # next_url / link_header: the server built the URL; only a query key is added
        return state["url"], {k: v for k, v in params.items() if d.auth and k == d.auth.name} or None
    params = dict(params)
    if p.type == "cursor" and state.get("cursor") is not None:
        params[p.param] = state["cursor"]
    elif p.type == "offset":
        params[p.offset_param] = state["offset"]
        params[p.limit_param] = p.limit
    elif p.type == "page":
        params[p.param] = state["page"]
        if p.size_param and p.size:
            params[p.size_param] = p.size
    return endpoint, params


def _count(value: Any) -> int | None:
    """A total or page count, also when written as a string ("1000" in XML, some JSON APIs)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def _after(d: Declaration, state: dict, doc: Any, records: list, headers: httpx.Headers,
           source: str, url: str) -> dict | None:
    """The state of the page after this one, or None when this is the last page."""
    p = d.paginator
    if p.type == "cursor":
        token = get_path(doc, p.path)
        return {"cursor": str(token)} if token not in (_MISSING, None, "") else None
    if p.type in ("next_url", "link_header"):
        if p.type == "next_url":
            nxt = get_path(doc, p.path)
            nxt = None if nxt is _MISSING else nxt
        else:
            nxt = httpx.Response(200, headers=headers).links.get("next", {}).get("url")
        if not nxt:
            return None
        nxt = str(httpx.URL(url).join(nxt))
        if httpx.URL(nxt).host != httpx.URL(d.url).host:
            # An API key must never follow a link to another host.
            raise SourceError(source, url, None, f"next page is on another host: {httpx.URL(nxt).host}")
        return {"url": nxt}
    if p.type == "offset":
        offset = state["offset"] + len(records)
        done = offset - p.base  # records before the next page
        total = _count(get_path(doc, p.total_path)) if p.total_path else None
        if (p.beyond_max_offset == "error" and p.max_offset is not None and total is not None
                and total > p.max_offset):
            raise SourceError(source, url, None,
                              f"the window holds {total} records but offset paging reaches only "
                              f"{p.max_offset}; sync narrower windows (since/until)")
        if total is not None and done >= total:
            return None
        if len(records) < p.limit:
            return None
        if p.max_offset is not None and done + p.limit > p.max_offset:
            return None
        return {"offset": offset}
    if p.type == "page":
        pages = _count(get_path(doc, p.pages_path)) if p.pages_path else None
        if pages is not None and state["page"] - p.base + 1 >= pages:
            return None
        return {"page": state["page"] + 1}
    return None
