"""The registry is the one list of sources: everything that names sources agrees with it."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import yaml

from flows.literature_sync import SourceName
from tasks.literature.sources import REGISTRY, SOURCE_NAMES, SOURCES
from tasks.literature.sources.declared import DeclaredSource
from tasks.tables import TABLES
from tasks.warehouse.dbt import staging_models, with_source_vars

ROOT = Path(__file__).resolve().parents[2]


def test_sources_and_the_flow_parameter_come_from_the_registry():
    assert list(SOURCES) == list(SOURCE_NAMES) == [e.name for e in REGISTRY]
    assert typing.get_args(SourceName) == SOURCE_NAMES
    assert {"openalex", "arxiv", "pubmed", "crossref", "europepmc", "semanticscholar", "datacite"} <= set(SOURCE_NAMES)
    for e in REGISTRY:
        # A declaration with a Python parser counts as coded: its records are read by code.
        declared = isinstance(e.source, DeclaredSource) and e.source.declaration.parser is None
        assert e.kind == ("declared" if declared else "coded")
        assert e.per_second > 0 and re.fullmatch(r"[\d*/,-]+( [\d*/,-]+){4}", e.schedule)


def test_every_source_has_its_daily_deployment_and_no_deployment_names_another():
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    syncs = [d for d in doc["deployments"] if d["entrypoint"] == "flows/literature_sync.py:literature_sync"]
    named = {d["parameters"]["source"]: d for d in syncs if "source" in (d.get("parameters") or {})}
    assert set(named) == set(SOURCE_NAMES)
    for e in REGISTRY:
        d = named[e.name]
        assert d["name"] == f"{e.name}-daily" and e.name in d["tags"]
        assert [s["cron"] for s in d["schedules"]] == [e.schedule]


def test_every_source_has_a_described_staging_model_and_its_mart_unions_them_all():
    described = {m["name"] for path in (ROOT / "dbt/models/staging").rglob("*.yml")
                 for m in yaml.safe_load(path.read_text()).get("models", [])}
    for table, models in staging_models().items():
        mart = TABLES[table].mart
        marts = list((ROOT / "dbt/models").rglob(f"{'int_documents__merged' if table == 'documents' else mart}.sql"))
        assert len(marts) == 1 and f"union_staging('{table}'" in marts[0].read_text(), table
        for model in models:
            source = model.removeprefix("stg_").split("__")[0]
            assert (ROOT / f"dbt/models/staging/{source}/{model}.sql").is_file() and model in described, model
    for e in REGISTRY:
        if e.source.TABLE.name == "documents":
            assert (ROOT / f"dbt/models/staging/{e.name}/stg_{e.name}__documents.sql").read_text().strip() == \
                f"{{{{ staged_documents('{e.name}') }}}}"


def test_dbt_names_no_source_itself():
    for path in (ROOT / "dbt/models").rglob("*.yml"):
        text = path.read_text()
        assert "values: [openalex" not in text and '"openalex", "arxiv"' not in text, path
    args = with_source_vars(["build", "--vars", json.dumps({"elt_build_schema": "x"})])
    assert args[:1] == ["build"] and args.count("--vars") == 1
    assert json.loads(args[-1]) == {"elt_build_schema": "x", "sources": list(SOURCE_NAMES),
                                    "staging_models": staging_models()}
