"""Run the dbt project through prefect-dbt, with every connection setting passed as env vars.

The profile reads only ``env_var()``; this module derives those variables from
the one Settings object so flows and ad-hoc ``dbt`` calls see the same warehouse.
dbt's target/ and logs/ go under the data dir, never into the (read-only) code tree.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import duckdb
from prefect import task
from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings

from tasks.lake import lake_from_settings
from tasks.literature.sources import REGISTRY, SOURCE_NAMES
from tasks.settings import Settings
from tasks.tables import TABLES, Table

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"


def lake_read_root(lake_url: str) -> str:
    """What DuckDB's read_parquet needs: a plain path for local lakes, the URL otherwise."""
    parsed = urlparse(lake_url)
    return parsed.path if parsed.scheme in ("", "file") else lake_url


def dbt_env(settings: Settings) -> dict[str, str]:
    return {
        "KI_WAREHOUSE": settings.warehouse,
        "KI_WAREHOUSE_SCHEMA": settings.warehouse_schema,
        "KI_LAKE_SCHEMA": settings.lake_schema,
        "KI_DUCKDB_PATH": str(settings.duckdb_file),
    }


def lake_tables(settings: Settings) -> dict[str, str]:
    """Table → what dbt-duckdb reads as source ``lake.<table>``: the Parquet files of the
    sources that have written some, or an empty relation with the table's columns. So a
    table no source has synced yet builds empty instead of failing on a glob that matches
    nothing, and no table reads another table's files."""
    lake = lake_from_settings(settings)
    root = lake_read_root(settings.lake_root)
    relations = {}
    for table in TABLES.values():
        globs = [f"{root}/processed/{e.name}/*/*/*.parquet" for e in REGISTRY
                 if e.source.TABLE is table and lake.fs.glob(lake.path(f"processed/{e.name}/*/*/*.parquet"))]
        relations[table.name] = (
            f"read_parquet([{', '.join(_sql_string(g) for g in globs)}], union_by_name = true, hive_partitioning = false)"
            if globs else _empty_relation(table)
        )
    return relations


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _empty_relation(table: Table) -> str:
    types = duckdb.from_arrow(table.schema.empty_table()).types
    columns = ", ".join(f'cast(null as {t}) as "{f.name}"' for f, t in zip(table.schema, types))
    return f"(select {columns} limit 0)"


def staging_models() -> dict[str, list[str]]:
    """Table → the staging models of its sources (``stg_<source>__<table>``), which the
    marts union (macro ``union_staging``): a new source joins its mart by its registry entry."""
    models: dict[str, list[str]] = {}
    for e in REGISTRY:
        models.setdefault(e.source.TABLE.name, []).append(f"stg_{e.name}__{e.source.TABLE.name}")
    return models


def with_source_vars(args: list[str], **extra) -> list[str]:
    """``args`` with ``--vars`` carrying ``sources`` (the registry's names, for the models'
    accepted_values tests), ``staging_models`` and ``extra``, merged into any ``--vars`` the
    caller passed: dbt keeps no list of sources of its own."""
    args = list(args)
    values: dict = {}
    if "--vars" in args:
        i = args.index("--vars")
        values = json.loads(args[i + 1])
        del args[i:i + 2]
    return [*args, "--vars", json.dumps({**values, **extra, "sources": list(SOURCE_NAMES),
                                         "staging_models": staging_models()})]


@contextmanager
def _environ(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_dbt(settings: Settings, args: list[str], *, raise_on_failure: bool = True):
    """Invoke dbt (one Prefect task per node when called inside a flow)."""
    work = (settings.data_dir / "dbt").resolve()
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    runner = PrefectDbtRunner(
        settings=PrefectDbtSettings(
            project_dir=DBT_PROJECT_DIR,
            profiles_dir=DBT_PROJECT_DIR,
            target_path=work / "target",
        ),
        raise_on_failure=raise_on_failure,
    )
    try:
        with _environ(dbt_env(settings)):
            args = with_source_vars(args, lake_tables=lake_tables(settings))
            return runner.invoke([*args, "--log-path", str(work / "logs")])
    finally:
        if settings.warehouse == "duckdb":
            # dbt-duckdb keeps the database open (and its file locked) for the life of the
            # process; close it so other processes (a concurrent run, a reader) can open it.
            from dbt.adapters.duckdb.connections import DuckDBConnectionManager

            DuckDBConnectionManager.close_all_connections()


ELT_MODELS = "tag:elt"
"""Built only by the elt-ingest flow, with write-audit-publish (tasks/elt/warehouse.py)."""


@task(name="dbt-build")
def dbt_build(settings: Settings, select: str | None = None) -> bool:
    """``dbt build`` (models + tests) of everything but the ELT models; raises on any failure."""
    args = ["build", "--exclude", ELT_MODELS] + (["--select", select] if select else [])
    return run_dbt(settings, args).success


@task(name="dbt-source-freshness")
def dbt_source_freshness(settings: Settings) -> bool:
    """Source freshness is reported, not enforced: a stale lake warns, the sync goes on."""
    return run_dbt(settings, ["source", "freshness"], raise_on_failure=False).success
