"""A sync killed mid-window (SIGKILL) resumes from its checkpoint; every record lands once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from tasks.lake import Lake

ROOT = Path(__file__).resolve().parents[2]
PAGES, PER_PAGE = 6, 25


def run_sync(data_dir: Path, api: str, request_log: Path, kill_at: int | None) -> int:
    env = dict(os.environ, KI_DATA_DIR=str(data_dir), PREFECT_API_URL=api,
               REQUEST_LOG=str(request_log), PYTHONPATH=str(ROOT))
    if kill_at is not None:
        env["KILL_AT_PAGE"] = str(kill_at)
    proc = subprocess.run([sys.executable, str(ROOT / "tests/integration/crash_sync.py")],
                          env=env, cwd=ROOT, capture_output=True, timeout=300)
    return proc.returncode


def test_killed_sync_resumes_from_watermark_checkpoint(tmp_path, prefect_api):
    log = tmp_path / "requests.log"
    assert run_sync(tmp_path, prefect_api, log, kill_at=3) == -signal.SIGKILL

    lake = Lake((tmp_path / "lake").as_uri())
    landed = [k for k in lake.keys("raw/openalex") if k.endswith(".json.gz")]
    assert len(landed) == 3  # pages 0..2 landed before the kill
    state = lake.get_json("state/openalex/all.json")
    assert state["watermark"] is None  # not advanced: the window is unfinished
    assert len(state["in_progress"]["pages"]) == 3
    assert lake.keys("processed") == []  # nothing half-written became visible

    log.write_text("")
    assert run_sync(tmp_path, prefect_api, log, kill_at=None) == 0
    assert log.read_text().split() == ["3", "4", "5"]  # resumed at the next cursor

    state = lake.get_json("state/openalex/all.json")
    assert state["watermark"] == "2024-01-02" and state["in_progress"] is None
    assert len([k for k in lake.keys("raw/openalex") if k.endswith(".json.gz")]) == PAGES
    (processed,) = lake.keys("processed")
    assert pq.read_metadata(lake.path(processed)).num_rows == PAGES * PER_PAGE
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        total, distinct = con.execute(
            "select count(*), count(distinct document_id) from main.scientific_documents").fetchone()
    assert total == distinct == PAGES * PER_PAGE
