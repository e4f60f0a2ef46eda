"""prefect.yaml → `prefect deploy` → worker → `prefect deployment run --watch`, on a real server.

A process work pool stands in for the Kubernetes pool; the test copy of
prefect.yaml changes only the pool name and the pull step's directory.
"""

import os
import signal
import subprocess

import duckdb
import pytest

from tasks.literature.sources.replay import RECORDINGS
from tests.servers import BIN, ROOT, local_prefect_yaml, prefect_cli, prefect_env

POOL = "e2e-process-pool"


@pytest.fixture
def worker(tmp_path, prefect_api):
    env = prefect_env(tmp_path / "home", prefect_api) | {"KI_DATA_DIR": str(tmp_path / "data")}
    prefect_cli("work-pool", "create", POOL, "--type", "process", "--overwrite", env=env)
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", POOL],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield env
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


def test_deployment_run_from_prefect_yaml_fills_the_mart(tmp_path, worker):
    env = worker
    prefect_file = local_prefect_yaml(tmp_path / "prefect.yaml", POOL)
    out = prefect_cli("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file), env=env)
    assert "literature-sync/openalex-daily" in out

    for source in ("openalex", "pubmed"):
        prefect_cli("deployment", "run", f"literature-sync/{source}-daily",
                "--param", f"replay_dir={RECORDINGS}",
                "--param", "since=2000-01-01", "--param", "until=2026-01-01",
                "--watch", "--watch-timeout", "240", env=env, timeout=300)

    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        ids = {r[0] for r in con.execute("select document_id from main.scientific_documents").fetchall()}
    assert ids == {"doi:10.7717/peerj.4375", "doi:10.1006/cryo.2001.2328", "doi:10.1006/jmre.2001.2429"}
