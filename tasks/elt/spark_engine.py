"""The Spark ELT engine: the arrow engine's cleaning rules as Spark SQL, the same output.

Chosen with ``KI_ELT_ENGINE=spark``. It writes the same single Parquet file (same Arrow
schema, same rows, same event ids) and the same quarantine JSON lines as
``tasks.elt.engine.ArrowEngine``, so everything downstream (staging, dbt, sinks) is
unaware of which engine ran.

DuckDB's text-to-number casts are hand-written parsers; Spark's differ (Spark rejects
``1.5`` as a bigint, DuckDB rounds it to 2; DuckDB reads ``1_000``). So numbers are
first matched against one grammar (sign, digits with single underscores, fraction,
exponent) and then cast the way DuckDB does. Strings DuckDB's parser also tolerates
outside that grammar (``+<tab>`` reads as 0 there, ``0x9_081`` as 36993) are rejected
here, and DuckDB reads ``5e-99`` as the decimal 0.01: 6 of 3,147 generated number strings
differ, none a plausible value.

A CSV file is read with ``multiLine`` (quoted newlines are data), which Spark reads as
one partition per file: records keep their order, so a record's line is its ordinal
plus the header, as the arrow engine counts them.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path

import orjson

from tasks.elt.dataset import _DECIMAL, Column, Dataset
from tasks.elt.engine import (
    NULL_MARK,
    RAW_PREVIEW_CHARS,
    CleanResult,
    Unreadable,
    check_utf8,
    cleaned_text,
    read_header,
    reason_sql,
)

_NUMBER = r"^\s*[+-]?([0-9]+(_[0-9]+)*(\.([0-9]+(_[0-9]+)*)?)?|\.[0-9]+(_[0-9]+)*)([eE][+-]?[0-9]+)?\s*$"
_HEX = r"^\s*0[xX]([0-9a-fA-F]+)\s*$"
_BINARY = r"^\s*0[bB]([01]+)\s*$"
_STRPTIME = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS",
             "%y": "yy", "%b": "MMM", "%B": "MMMM", "%j": "DDD", "%p": "a", "%I": "hh", "%z": "Z", "%%": "%"}
_CORRUPT = "_ki_corrupt"
_RECORD = "_ki_record"


@cache
def spark_session(master: str, remote: str | None):
    """One session per process: starting a JVM costs ~10 s, far more than a small file."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("knowledge-ingest-elt")
    builder = builder.remote(remote) if remote else builder.master(master).config("spark.ui.enabled", "false")
    return (builder
            .config("spark.sql.session.timeZone", "UTC")  # event ids hash UTC microseconds
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")  # not INT96
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate())


def _lit(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def java_pattern(strptime: str) -> str:
    """A strptime format as a Java DateTimeFormatter pattern, literal text quoted."""
    out, literal = [], []
    for token in re.findall(r"%.|[^%]", strptime):
        if token.startswith("%"):
            if token not in _STRPTIME:
                raise ValueError(f"strptime directive {token} has no Spark equivalent (format {strptime!r})")
            if literal:
                out.append("'" + "".join(literal).replace("'", "''") + "'")
                literal = []
            out.append(_STRPTIME[token])
        else:
            literal.append(token)
    if literal:
        out.append("'" + "".join(literal).replace("'", "''") + "'")
    return "".join(out)


def typed_spark(column: Column) -> tuple[str, str]:
    """(typed value, reason or NULL) Spark SQL for one column read as text: ``typed_sql``'s rules."""
    text = cleaned_text(column, _ident(column.name))
    digits = f"replace({text}, '_', '')"
    if column.type == "string":
        typed = text
    elif column.type == "bigint":
        typed = (f"case when {text} rlike {_lit(_NUMBER)} "
                 f"then try_cast(round(try_cast({digits} as decimal(38, 10)), 0) as bigint) "
                 f"when {text} rlike {_lit(_HEX)} "
                 f"then try_cast(conv(regexp_extract({text}, {_lit(_HEX)}, 1), 16, 10) as bigint) "
                 f"when {text} rlike {_lit(_BINARY)} "
                 f"then try_cast(conv(regexp_extract({text}, {_lit(_BINARY)}, 1), 2, 10) as bigint) "
                 f"end")
    elif column.type == "double" or _DECIMAL.fullmatch(column.type):
        typed = f"case when {text} rlike {_lit(_NUMBER)} then try_cast({digits} as {column.type}) end"
    elif column.type in ("date", "timestamp") and column.formats:
        parsed = ", ".join(f"try_to_timestamp({text}, {_lit(java_pattern(f))})" for f in column.formats)
        typed = f"cast(coalesce({parsed}) as {'date' if column.type == 'date' else 'timestamp_ntz'})"
    else:
        typed = f"try_cast({text} as {'timestamp_ntz' if column.type == 'timestamp' else column.type})"
    return typed, reason_sql(column, text, typed, _lit)


def event_id_spark(dataset: Dataset) -> str:
    """``event_id_sql`` in Spark: the same text of each value, so the same sha256."""
    by_name = {c.name: c for c in dataset.columns}
    parts = []
    for name in dataset.event_id:
        value, kind = _ident(name), by_name[name].type
        if kind == "double":  # DuckDB prints 1e+20, Spark 1.0E20: the ids would differ
            raise ValueError(f"event_id column {name!r} is a double: the Spark engine cannot hash it "
                             "as the arrow engine does; use a decimal")
        if kind == "timestamp":
            value = f"unix_micros(cast({value} as timestamp))"
        parts.append(f"coalesce(cast({value} as string), {_lit(NULL_MARK)})")
    return f"sha2(concat_ws(chr(31), {', '.join(parts)}), 256)"


class SparkEngine:
    """Spark reads, checks and writes; only the quarantined records reach the driver."""

    def __init__(self, master: str | None = None, remote: str | None = None):
        if master is None and remote is None:
            from tasks.settings import load_settings

            settings = load_settings()
            master, remote = settings.spark_master, settings.spark_remote
        self.master = master or "local[2]"
        self.remote = remote

    def clean(self, dataset: Dataset, source: Path, parquet_out: Path, quarantine_out: Path,
              *, source_key: str) -> CleanResult:
        if dataset.format != "csv":
            raise ValueError(f"the Spark engine reads CSV datasets; {dataset.name} is {dataset.format}")
        if source.stat().st_size == 0:
            raise Unreadable("empty file (0 bytes)")
        check_utf8(source)
        header = read_header(dataset, source)
        event_id = event_id_spark(dataset)
        spark = spark_session(self.master, self.remote)
        from pyspark.errors import PySparkException
        from pyspark.storagelevel import StorageLevel

        opts = dataset.csv
        quote = opts.quote
        read = (spark.read.schema(", ".join(f"{_ident(n)} string" for n in [*header, _CORRUPT]))
                .option("header", True).option("enforceSchema", True).option("multiLine", True)
                .option("sep", opts.delimiter).option("quote", quote)
                .option("escape", opts.escape if opts.escape is not None else quote)
                .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", _CORRUPT)
                .option("nullValue", "\u0000").option("emptyValue", "")  # "" is a value, a missing field null
                .option("encoding", "UTF-8").csv(str(source)))
        typed, reasons = zip(*(typed_spark(c) for c in dataset.columns))
        line_bytes = " + ".join(f"coalesce(octet_length({_ident(n)}), 0)" for n in header)
        structural = (f"case when {_CORRUPT} is not null then 'MALFORMED' "
                      f"when {line_bytes} + {len(header) - 1} > {int(dataset.max_line_bytes)} "
                      f"then 'LINE SIZE OVER MAXIMUM' end")
        raw = ", ".join(f"{_lit(c.name)}, {_ident(c.name)}" for c in dataset.columns)
        checked = read.selectExpr(
            f"monotonically_increasing_id() as {_RECORD}",
            *(f"{t} as {_ident(c.name)}" for t, c in zip(typed, dataset.columns)),
            f"coalesce({structural}, nullif(concat_ws('; ', {', '.join(reasons)}), '')) as _reason",
            f"named_struct({raw}) as _raw",
            f"coalesce({_CORRUPT}, concat_ws({_lit(opts.delimiter)}, "
            f"{', '.join(f'coalesce({_ident(n)}, {_lit(chr(0))})' for n in header)})) as _line",
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            self._write_parquet(checked, dataset, event_id, parquet_out, source_key)
            counts = checked.selectExpr("count(*) as n", "count_if(_reason is null) as cleaned",
                                        f"coalesce(max({_RECORD}), -1) as last").first()
            if counts["last"] != counts["n"] - 1:  # a split file would number records per split
                raise RuntimeError(f"{source_key} was read in several partitions: records cannot be numbered")
            bad = (checked.where("_reason is not null").orderBy(_RECORD)
                   .select(_RECORD, "_reason", "_raw", "_line").toLocalIterator())
            result = self._quarantine(bad, dataset, header, quarantine_out, source_key)
        except PySparkException as exc:
            raise Unreadable(f"cannot read {source_key}: {str(exc).splitlines()[0]}") from exc
        finally:
            checked.unpersist()
        result.cleaned = counts["cleaned"]
        result.records = result.cleaned + result.quarantined
        return result

    @staticmethod
    def _write_parquet(checked, dataset: Dataset, event_id: str, parquet_out: Path, source_key: str) -> None:
        """One Parquet file: Spark writes one part into a temporary folder beside the target, then
        it is renamed. Every field is nullable, as DuckDB writes them: the hash is never empty and
        record numbers are never negative, but Spark cannot prove it, so it does not mark them
        required."""
        parquet_out.parent.mkdir(parents=True, exist_ok=True)
        rows = checked.where("_reason is null").selectExpr(
            *(_ident(n) for n in dataset.column_names),
            f"nullif({event_id}, '') as event_id",
            f"if({_RECORD} >= 0, {_lit(source_key)}, null) as _source_file")
        with tempfile.TemporaryDirectory(prefix=".ki-spark-", dir=parquet_out.parent) as tmp:
            out = Path(tmp) / "out"
            rows.coalesce(1).write.option("compression", "zstd").parquet(str(out))
            [part] = out.glob("part-*.parquet")
            part.replace(parquet_out)
        shutil.rmtree(parquet_out.parent / f".{parquet_out.name}.crc", ignore_errors=True)

    @staticmethod
    def _quarantine(bad, dataset: Dataset, header: list[str], quarantine_out: Path,
                    source_key: str) -> CleanResult:
        """The bad records as JSON lines in line order, as the arrow engine writes them."""
        result = CleanResult()
        quarantine_out.parent.mkdir(parents=True, exist_ok=True)
        with quarantine_out.open("wb") as out:
            for row in bad:
                reason, raw = row["_reason"], row["_raw"].asDict()
                if reason == "MALFORMED":
                    fields = next(csv.reader(io.StringIO(row["_line"]), delimiter=dataset.csv.delimiter,
                                             quotechar=dataset.csv.quote), [])
                    reason = "TOO MANY COLUMNS" if len(fields) > len(header) else "MISSING COLUMNS"
                if reason in ("TOO MANY COLUMNS", "MISSING COLUMNS", "LINE SIZE OVER MAXIMUM"):
                    raw = row["_line"].replace("\x00", "").lstrip("\r\n")[:RAW_PREVIEW_CHARS]
                    kinds = [reason]
                else:
                    kinds = reason.split("; ")
                out.write(orjson.dumps({"file": source_key, "line": row[_RECORD] + 2,
                                        "reason": reason, "raw": raw}) + b"\n")
                for kind in kinds:
                    result.reasons[kind] = result.reasons.get(kind, 0) + 1
                result.quarantined += 1
        return result
