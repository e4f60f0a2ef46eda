"""ELT dataset declarations: one YAML file per dataset under ``tasks/elt/datasets/``.

A declaration says everything the pipeline needs to know about a dataset's files
(format, columns and types, cleaning rules, event id, sinks, dbt models); the code
never names a dataset. Adding a dataset is a new YAML file plus its dbt models.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
CLICKSTREAM_SAMPLE = Path(__file__).resolve().parent / "samples" / "rees46_2019-Oct-sample.sidatKSTX.csv"
"""1,000 real REES46 rows (provenance: samples/SOURCES.md), for the demo and the tests."""

_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")
SIMPLE_TYPES = {"string", "bigint", "double", "boolean", "date", "timestamp"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    type: str
    required: bool = False
    trim: bool = True
    empty_as_null: bool = True
    formats: tuple[str, ...] = ()
    """strptime formats tried in order (date and timestamp columns)."""
    allowed: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in SIMPLE_TYPES and not _DECIMAL.fullmatch(value):
            raise ValueError(f"unknown column type {value!r}: use one of {sorted(SIMPLE_TYPES)} or decimal(p,s)")
        return value

    def sql_type(self, dialect: Literal["duckdb", "postgres"]) -> str:
        if dialect == "postgres":
            return {"string": "text", "double": "double precision"}.get(
                self.type, self.type.replace("decimal", "numeric"))
        return {"string": "varchar"}.get(self.type, self.type)


class CsvOptions(_Strict):
    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    """Defaults to the quote character (RFC 4180 doubling)."""


class PostgresSink(_Strict):
    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


class VectorSink(_Strict):
    """One vector per entity (``key``) of the text its ``text`` columns hold, e.g. a product's
    category and brand: re-embedded only when that text changes."""

    collection: str = Field(pattern=r"^[A-Z][A-Za-z0-9_]*$")
    """Weaviate collection / LanceDB table (Weaviate wants a capitalised name)."""
    key: tuple[str, ...] = Field(min_length=1)
    text: tuple[str, ...] = Field(min_length=1)


class Sinks(_Strict):
    postgres: PostgresSink | None = None
    vector: VectorSink | None = None


class DbtModels(_Strict):
    schema_: str = Field(alias="schema", pattern=r"^[a-z_][a-z0-9_]*$")
    select: str
    publish: tuple[str, ...]
    """Relations swapped into production together once the audited build passes."""

    @property
    def build_schema(self) -> str:
        return f"{self.schema_}__wap"


class Dataset(_Strict):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    description: str = ""
    format: Literal["csv", "jsonl", "json"]
    csv: CsvOptions = CsvOptions()
    max_line_bytes: int = 1024 * 1024
    on_extra_columns: Literal["fail", "ignore"] = "fail"
    columns: tuple[Column, ...]
    event_time: str
    event_id: tuple[str, ...]
    sinks: Sinks = Sinks()
    dbt: DbtModels

    @model_validator(mode="after")
    def _names_exist(self) -> Dataset:
        names = self.column_names
        vector = (*self.sinks.vector.key, *self.sinks.vector.text) if self.sinks.vector else ()
        missing = [n for n in (self.event_time, *self.event_id, *vector) if n not in names]
        if missing:
            raise ValueError(f"event_time/event_id/sinks name undeclared column(s): {missing}")
        if len(set(names)) != len(names):
            raise ValueError("duplicate column names")
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def sink_names(self) -> list[str]:
        """``warehouse`` always, then each declared extra sink."""
        return ["warehouse", *(name for name, value in self.sinks if value is not None)]


@cache
def load_dataset(name: str) -> Dataset:
    path = DATASETS_DIR / f"{name}.yaml"
    if not path.exists():
        raise KeyError(f"unknown dataset {name!r}; declared: {', '.join(dataset_names())}")
    return Dataset.model_validate(yaml.safe_load(path.read_text()))


def dataset_names() -> list[str]:
    return sorted(p.stem for p in DATASETS_DIR.glob("*.yaml"))
