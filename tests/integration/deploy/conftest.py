"""The platform on one machine for the automation tests: a real ``prefect server start``,
every deployment of prefect.yaml registered by ``prefect deploy --all``, a process worker
standing in for the Kubernetes pools, FalkorDB standing in for Neo4j, and the automations
applied by the same command the Helm hook runs.

The server is this module's own, not the session's ``prefect_api``: automations react to
every matching event on their server, and other tests run literature-sync deployments
there.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.automations import EMBED_AFTER_SYNC, GRAPH_AFTER_SYNC, SYNC_ON_OBJECT_CREATED
from tasks.graph.local_bolt import local_falkordb
from tests.servers import BIN, background, free_port, prefect_env, prefect_server

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
POOL = "ki-automations-e2e"

# The deployments the automations run, as the lead agreed to add them to prefect.yaml;
# the test copy gets the ones prefect.yaml does not declare yet (reported by the stack).
TARGETS = {
    EMBED_AFTER_SYNC: {"entrypoint": "flows/embed_documents.py:embed_documents",
                       "parameters": {"documents": "changed"}},
    GRAPH_AFTER_SYNC: {"entrypoint": "flows/graph_load.py:graph_load",
                       "parameters": {"documents": "changed"}},
    SYNC_ON_OBJECT_CREATED: {"entrypoint": "flows/literature_sync.py:literature_sync"},
}


@dataclass(frozen=True)
class Stack:
    api_url: str
    env: dict[str, str]
    """Environment for the prefect CLI and ``python -m flows.automations`` against the server."""
    data_dir: Path
    added_to_test_copy: list[str]
    """Target deployments prefect.yaml lacks, declared in the test copy only."""


def prefect_cli(*args: str, env: dict, timeout: float = 300) -> str:
    proc = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def automations_cli(*args: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-m", "flows.automations", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"flows.automations {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def local_prefect_yaml(dest: Path) -> tuple[Path, list[str]]:
    """prefect.yaml with only the pool (and the pull step's directory) swapped for this machine."""
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    config["pull"] = [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
    for step in ("build", "push"):
        config.pop(step, None)  # no image for a process pool
    declared = {d["name"] for d in config["deployments"]}
    added = [target for target in TARGETS if target.split("/", 1)[1] not in declared]
    config["deployments"] += [{"name": t.split("/", 1)[1], **TARGETS[t]} for t in added]
    for deployment in config["deployments"]:
        deployment["work_pool"] = {"name": POOL}
    dest.write_text(yaml.safe_dump(config, sort_keys=False))
    return dest, added


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    tmp = tmp_path_factory.mktemp("automations-e2e")
    with pytest.MonkeyPatch.context() as mp, prefect_server(tmp / "server") as api, \
            local_falkordb(tmp / "falkordb") as bolt, temporary_settings({PREFECT_API_URL: api}):
        mp.setenv("PREFECT_API_URL", api)  # for in-process clients, like the session fixture
        env = prefect_env(tmp / "cli", api)
        prefect_cli("work-pool", "create", POOL, "--type", "process", "--overwrite", env=env)
        prefect_file, added = local_prefect_yaml(tmp / "prefect.yaml")
        prefect_cli("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file), env=env)
        automations_cli("apply", env=env)

        port = free_port()
        worker_env = prefect_env(tmp / "worker", api) | {
            "KI_DATA_DIR": str(tmp / "data"),
            "NEO4J_URI": bolt,
            "HF_HUB_OFFLINE": "1",  # no model hub here: embed falls back to the packaged model
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
            "PREFECT_WORKER_WEBSERVER_PORT": str(port),
        }
        worker = [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process",
                  "--with-healthcheck"]
        with background(worker, env=worker_env, log=tmp / "worker.log",
                        health_url=f"http://127.0.0.1:{port}/health"):
            yield Stack(api, env, tmp / "data", added)
