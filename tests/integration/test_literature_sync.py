"""literature-sync on recorded responses against a real Prefect server: mart, artifacts, idempotency."""

import asyncio
import json
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.literature_sync import literature_sync
from tasks.lake import Lake
from tasks.literature.sources.replay import RECORDINGS

WINDOW = {"since": date(2000, 1, 1), "until": date(2026, 1, 1), "replay_dir": str(RECORDINGS)}
EXPECTED = {
    "doi:10.7717/peerj.4375",  # OpenAlex W2741809807
    "doi:10.1006/cryo.2001.2328",  # PubMed 11748933
    "doi:10.1006/jmre.2001.2429",  # PubMed 11700088
    "doi:10.1103/physrevb.74.024520",  # arXiv cond-mat/0603029 (has a DOI)
    "doi:10.1145/3679006.3685071",  # arXiv 2407.18756 (has a DOI)
    *(f"arxiv:{i}" for i in ("1605.01097", "1912.04900", "1912.09881", "2004.03322", "2202.06271",
                             "2301.05651", "2301.13615", "2403.16981", "2406.19956")),
}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KI_DATA_DIR", str(tmp_path))
    return tmp_path


def mart(data_dir: Path, sql: str):
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:  # same config as dbt-duckdb
        return con.execute(sql).fetchall()


def lake_snapshot(data_dir: Path) -> dict[str, int]:
    """Every lake key (except state/manifests, which record times) with its row count or size."""
    lake = Lake((data_dir / "lake").as_uri())
    snap = {}
    for key in lake.keys(""):
        if key.endswith(".parquet"):
            snap[key] = pq.read_metadata(lake.path(key)).num_rows
        elif key.startswith("raw/") and key.endswith(".gz"):
            snap[key] = len(lake.get(key))
    return snap


def test_three_sources_land_normalise_and_build_the_mart(data_dir, prefect_api):
    runs = {s: literature_sync(source=s, build_marts=s == "pubmed", **WINDOW)  # one dbt build
            for s in ("openalex", "arxiv", "pubmed")}

    assert {s: (r["pages"], r["records"], r["quarantined"]) for s, r in runs.items()} == {
        "openalex": (1, 1, 0), "arxiv": (2, 11, 0), "pubmed": (1, 2, 0)}
    assert runs["pubmed"]["inserted"] == 2 and runs["pubmed"]["mart_rows"] == 14
    rows = mart(data_dir, "select document_id, source, source_id, title, authors[1].name "
                          "from main.scientific_documents")
    assert {r[0] for r in rows} == EXPECTED
    by_id = {r[0]: r for r in rows}
    assert by_id["doi:10.7717/peerj.4375"][1:4] == (
        "openalex", "W2741809807",
        "The state of OA: a large-scale analysis of the prevalence and impact of Open Access articles")
    assert by_id["doi:10.1006/cryo.2001.2328"][2] == "11748933"

    async def artifact():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["literature-sync-pubmed"])))
            return found[0].data

    table = {row["metric"]: row["value"] for row in json.loads(asyncio.run(artifact()))}
    assert table["records"] == "2" and table["quarantined"] == "0" and table["inserted"] == "2"


def test_same_window_twice_changes_nothing(data_dir, prefect_api):
    first = literature_sync(source="arxiv", **WINDOW)
    snap, rows = lake_snapshot(data_dir), mart(data_dir, "select count(*) from main.scientific_documents")

    second = literature_sync(source="arxiv", **WINDOW)

    assert lake_snapshot(data_dir) == snap  # same keys, same bytes, same Parquet row counts
    assert mart(data_dir, "select count(*) from main.scientific_documents") == rows == [(11,)]
    assert (first["inserted"], second["inserted"], second["updated"]) == (11, 0, 0)


def test_scheduled_run_is_a_no_op_when_up_to_date(data_dir, prefect_api):
    literature_sync(source="openalex", until=date.today(), replay_dir=str(RECORDINGS), build_marts=False)
    again = literature_sync(source="openalex", replay_dir=str(RECORDINGS), build_marts=False)
    assert (again["pages"], again["records"]) == (0, 0)
