"""Clean one landed file into Parquet: the conversion engine seam.

An engine receives a dataset declaration and local paths, nothing else, and
returns the counts. ``arrow`` (DuckDB reading, Arrow/Parquet writing) is the
one-machine engine; a Spark engine plugs in beside it under another name.

Every data record of the file ends in exactly one place: the Parquet file
(cleaned) or the quarantine file (with its line and reason). A file that cannot be
read at all raises ``Unreadable``, and the caller moves it to ``failed/``.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb
import orjson

from tasks.elt.dataset import Column, Dataset

NULL_MARK = "\\N"
"""Stands for a missing value in the event id's input, so (a, null) and (null, a) differ."""
RAW_PREVIEW_CHARS = 2000


class Unreadable(ValueError):
    """The file as a whole cannot be read (empty, bad header, corrupt compression …)."""


@dataclass
class CleanResult:
    records: int = 0
    cleaned: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    """Quarantine reasons by kind (``price: below minimum``, ``TOO MANY COLUMNS`` …)."""


class Engine(Protocol):
    def clean(self, dataset: Dataset, source: Path, parquet_out: Path, quarantine_out: Path,
              *, source_key: str) -> CleanResult:
        """Read ``source`` (plain, not compressed), write cleaned rows and quarantined records."""


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def cleaned_text(column: Column, ident: str) -> str:
    """The column's text after the declaration's trim and empty → null (DuckDB and Spark SQL)."""
    text = ident
    if column.trim:
        text = f"trim({text})"
    if column.empty_as_null:
        text = f"nullif({text}, '')"
    return text


def reason_sql(column: Column, text: str, typed: str, literal=_sql_str) -> str:
    """The first rule the value breaks, as a CASE (NULL when none), in SQL both DuckDB and
    Spark read; ``literal`` quotes a string for the engine."""
    checks = []
    if column.required:
        checks.append(f"when {text} is null then {literal(column.name + ': missing')}")
    checks.append(f"when {text} is not null and {typed} is null then {literal(f'{column.name}: not a {column.type}')}")
    if column.allowed:
        values = ", ".join(literal(v) for v in column.allowed)
        checks.append(f"when {typed} not in ({values}) then {literal(column.name + ': not an allowed value')}")
    if column.min is not None:
        checks.append(f"when {typed} < {column.min} then {literal(column.name + ': below minimum')}")
    if column.max is not None:
        checks.append(f"when {typed} > {column.max} then {literal(column.name + ': above maximum')}")
    return f"case {' '.join(checks)} end"


def typed_sql(column: Column) -> tuple[str, str]:
    """(typed value, reason or NULL) SQL for one column read as text."""
    text = cleaned_text(column, sql_ident(column.name))
    if column.type == "string":
        typed = text
    elif column.type in ("date", "timestamp") and column.formats:
        formats = ", ".join(_sql_str(f) for f in column.formats)
        typed = f"try_strptime({text}, [{formats}])"
        if column.type == "date":
            typed = f"cast({typed} as DATE)"
    else:
        typed = f"try_cast({text} as {column.sql_type('duckdb')})"
    return typed, reason_sql(column, text, typed)


def event_id_sql(dataset: Dataset) -> str:
    """sha256 of the key columns' cleaned values, joined by U+001F (Spark: sha2(concat_ws(…)))."""
    by_name = {c.name: c for c in dataset.columns}
    parts = []
    for name in dataset.event_id:
        value = sql_ident(name)
        if by_name[name].type == "timestamp":
            value = f"epoch_us({value})"
        parts.append(f"coalesce(cast({value} as VARCHAR), {_sql_str(NULL_MARK)})")
    return f"sha256(concat_ws(chr(31), {', '.join(parts)}))"


def check_utf8(source: Path, chunk_bytes: int = 8 * 1024 * 1024) -> None:
    """Raise ``Unreadable`` naming the line of the first byte that is not UTF-8.

    DuckDB's readers drop invalid bytes silently ("shi\\xffseido" reads as "shiseido"),
    so the file is checked first, streaming, in one pass.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    with source.open("rb") as handle:
        while True:
            chunk = handle.read(chunk_bytes)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                raise Unreadable(f"not UTF-8: byte {bad} (line {_line_at(source, bad)}): {exc.reason}") from None
            if not chunk:
                return
            offset += len(chunk)


def _line_at(source: Path, offset: int) -> int:
    """1-based line number of a byte offset (counted only once a file has failed)."""
    count, done = 1, 0
    with source.open("rb") as handle:
        while done < offset:
            chunk = handle.read(min(8 * 1024 * 1024, offset - done))
            count += chunk.count(b"\n")
            done += len(chunk)
    return count


def read_header(dataset: Dataset, source: Path) -> list[str]:
    """The CSV header's column names, checked against the declaration."""
    with source.open("rb") as handle:
        first = handle.readline(dataset.max_line_bytes + 1)
    if len(first) > dataset.max_line_bytes:
        raise Unreadable(f"first line longer than {dataset.max_line_bytes} bytes: no header")
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"header is not UTF-8: {exc}") from exc
    if not line.strip():
        raise Unreadable("no header: the first line is empty")
    names = next(csv.reader(io.StringIO(line), delimiter=dataset.csv.delimiter, quotechar=dataset.csv.quote))
    names = [n.strip() for n in names]
    declared = dataset.column_names
    missing = [n for n in declared if n not in names]
    extra = [n for n in names if n not in declared]
    if missing:
        raise Unreadable(f"header lacks declared column(s) {missing}; first line: {line.strip()[:200]!r}")
    if len(set(names)) != len(names):
        raise Unreadable(f"header repeats a column name: {names}")
    if extra and dataset.on_extra_columns == "fail":
        raise Unreadable(f"header names undeclared column(s) {extra}")
    return names


class ArrowEngine:
    """DuckDB reads and casts, Parquet is written by DuckDB's Arrow-compatible writer.

    The file is read once into a spillable temporary table (typed values and the
    reason), so memory stays bounded by ``memory_limit`` whatever the file size;
    a second read numbers the bad records when there are any.
    """

    def __init__(self, memory_limit: str = "1GB", threads: int | None = None):
        self.memory_limit = memory_limit
        self.threads = threads

    def clean(self, dataset: Dataset, source: Path, parquet_out: Path, quarantine_out: Path,
              *, source_key: str) -> CleanResult:
        if source.stat().st_size == 0:
            raise Unreadable("empty file (0 bytes)")
        check_utf8(source)
        with tempfile.TemporaryDirectory(prefix="ki-elt-") as spill, duckdb.connect() as con:
            con.execute(f"set memory_limit = {_sql_str(self.memory_limit)}")
            con.execute(f"set temp_directory = {_sql_str(spill)}")
            con.execute("set preserve_insertion_order = true")
            con.execute("set enable_progress_bar = false")  # it would fill the run log
            if self.threads:
                con.execute(f"set threads = {int(self.threads)}")
            reader, header_lines = self._reader(dataset, source)
            self._stage(con, dataset, reader, source_key)
            return self._write(con, dataset, reader, parquet_out, quarantine_out, source_key, header_lines)

    def _reader(self, dataset: Dataset, source: Path) -> tuple[str, int]:
        path = _sql_str(str(source))
        if dataset.format == "csv":
            names = read_header(dataset, source)
            columns = "{" + ", ".join(f"{_sql_str(n)}: 'VARCHAR'" for n in names) + "}"
            opts = dataset.csv
            escape = opts.escape if opts.escape is not None else opts.quote
            return (f"read_csv({path}, columns = {columns}, header = true, auto_detect = false, "
                    f"delim = {_sql_str(opts.delimiter)}, quote = {_sql_str(opts.quote)}, "
                    f"escape = {_sql_str(escape)}, strict_mode = true, null_padding = false, "
                    f"ignore_errors = true, store_rejects = true, "
                    f"max_line_size = {int(dataset.max_line_bytes)}, all_varchar = true)"), 1
        columns = "{" + ", ".join(f"{_sql_str(n)}: 'VARCHAR'" for n in dataset.column_names) + "}"
        fmt = "newline_delimited" if dataset.format == "jsonl" else "array"
        return (f"read_json({path}, columns = {columns}, format = {_sql_str(fmt)}, "
                f"maximum_object_size = {int(dataset.max_line_bytes)})"), 0

    def _stage(self, con, dataset: Dataset, reader: str, source_key: str) -> None:
        """Every record's typed values and reason, in one parallel pass without line numbers."""
        typed, reasons = zip(*(typed_sql(c) for c in dataset.columns))
        names = [sql_ident(c.name) for c in dataset.columns]
        try:
            con.execute(f"""
                create temp table checked as
                select {', '.join(f'{t} as {n}' for t, n in zip(typed, names))},
                       nullif(concat_ws('; ', {', '.join(reasons)}), '') as _reason
                from {reader}""")
        except duckdb.Error as exc:
            raise Unreadable(f"cannot read {source_key}: {str(exc).splitlines()[0]}") from exc

    @staticmethod
    def _bad_records(con, dataset: Dataset, reader: str, expected: int) -> list[tuple[int, str, dict]]:
        """(ordinal, reason, raw values) of the records that failed cleaning.

        Numbering records needs an ordered window over the whole file, which costs
        more than the rest of the clean, so the file is read a second time only when
        the first pass found bad records.
        """
        reasons = [typed_sql(c)[1] for c in dataset.columns]
        raw = "{" + ", ".join(f"{_sql_str(c.name)}: {sql_ident(c.name)}" for c in dataset.columns) + "}"
        rows = con.execute(f"""
            select _record, _reason, _raw from (
                select row_number() over () as _record,
                       nullif(concat_ws('; ', {', '.join(reasons)}), '') as _reason,
                       {raw} as _raw
                from {reader})
            where _reason is not null order by _record""").fetchall()
        if len(rows) != expected:  # both passes read the same bytes with the same rules
            raise RuntimeError(f"second pass found {len(rows)} bad records, the first {expected}")
        return rows

    def _write(self, con, dataset: Dataset, reader: str, parquet_out: Path, quarantine_out: Path,
               source_key: str, header_lines: int) -> CleanResult:
        names = ", ".join(sql_ident(n) for n in dataset.column_names)
        parquet_out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"""
            copy (select {names}, {event_id_sql(dataset)} as event_id,
                         {_sql_str(source_key)} as _source_file
                  from checked where _reason is null)
            to {_sql_str(str(parquet_out))} (format parquet, compression zstd)""")
        result = CleanResult()
        result.cleaned, failed = con.execute(
            "select count(*) filter (_reason is null), count(*) filter (_reason is not null) from checked").fetchone()
        rejected = self._rejects(con) if dataset.format == "csv" else {}  # before a second scan adds to them
        bad = self._bad_records(con, dataset, reader, failed) if failed else []
        reject_lines = sorted(rejected)
        records = []
        for ordinal, reason, raw in bad:
            records.append({"file": source_key, "line": _line_of(ordinal, reject_lines, header_lines),
                            "reason": reason, "raw": raw})
            for part in reason.split("; "):
                result.reasons[part] = result.reasons.get(part, 0) + 1
        for line, (kinds, text) in rejected.items():
            records.append({"file": source_key, "line": line, "reason": kinds, "raw": text})
            result.reasons[kinds] = result.reasons.get(kinds, 0) + 1
        records.sort(key=lambda r: r["line"])
        quarantine_out.parent.mkdir(parents=True, exist_ok=True)
        quarantine_out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        result.quarantined = len(records)
        result.records = result.cleaned + result.quarantined
        return result

    @staticmethod
    def _rejects(con) -> dict[int, tuple[str, str]]:
        """line → (error kinds, the record's text) for records the CSV reader refused."""
        rows = con.execute("""
            select line, string_agg(distinct error_type, '; ' order by error_type),
                   any_value(csv_line)
            from reject_errors group by line""").fetchall()
        return {int(line): (kinds, (text or "").lstrip("\r\n")[:RAW_PREVIEW_CHARS]) for line, kinds, text in rows}


def _line_of(ordinal: int, reject_lines: list[int], header_lines: int) -> int:
    """Line of the ``ordinal``-th record the reader accepted, skipping the refused lines."""
    line = header_lines + ordinal
    skipped = 0
    while True:
        now = bisect.bisect_right(reject_lines, line)
        if now == skipped:
            return line
        line += now - skipped
        skipped = now


ENGINES: dict[str, type] = {"arrow": ArrowEngine}


def engine(name: str) -> Engine:
    if name == "spark":  # imported on demand: pyspark is an extra
        from tasks.elt.spark_engine import SparkEngine

        return SparkEngine()
    try:
        return ENGINES[name]()
    except KeyError:
        raise ValueError(f"unknown ELT engine {name!r}: choose one of {sorted([*ENGINES, 'spark'])}") from None
