"""The platform on one machine for the automation tests: a real ``prefect server start``,
every deployment of prefect.yaml registered by ``prefect deploy --all``, a process worker
standing in for the Kubernetes pools, FalkorDB standing in for Neo4j, and the automations
applied by the same command the Helm hook runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from tasks.graph.local_bolt import local_falkordb
from tests.servers import (
    BIN,
    ROOT,
    background,
    free_port,
    local_prefect_yaml,
    prefect_cli,
    prefect_env,
    prefect_server,
)

POOL = "ki-automations-e2e"

UNFINISHED = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]


@dataclass(frozen=True)
class Stack:
    api_url: str
    env: dict[str, str]
    """Environment for the prefect CLI and ``python -m flows.automations`` against the server."""


def automations_cli(*args: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-m", "flows.automations", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"flows.automations {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def wait_until_idle(timeout: float) -> None:
    """Let the runs the automations started finish before the worker stops under them."""
    busy = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=UNFINISHED)))
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while runs := client.read_flow_runs(flow_run_filter=busy):
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow runs still unfinished after {timeout}s: "
                                   f"{[(r.name, r.state_name) for r in runs]}")
            time.sleep(1)


@contextmanager
def platform(tmp: Path) -> Iterator[Stack]:
    """Server, deployments, automations and a worker; the caller points its client at api_url."""
    with prefect_server(tmp / "server") as api, local_falkordb(tmp / "falkordb") as bolt:
        env = prefect_env(tmp / "cli", api)
        prefect_cli("work-pool", "create", POOL, "--type", "process", "--overwrite", env=env)
        prefect_file = local_prefect_yaml(tmp / "prefect.yaml", POOL)
        prefect_cli("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file), env=env)
        automations_cli("apply", env=env)

        port = free_port()
        worker_env = prefect_env(tmp / "worker", api) | {
            "KI_DATA_DIR": str(tmp / "data"),
            "NEO4J_URI": bolt.uri,
            "HF_HUB_OFFLINE": "1",  # no model hub here: embed falls back to the packaged model
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
            "PREFECT_WORKER_WEBSERVER_PORT": str(port),
        }
        worker = [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process",
                  "--with-healthcheck"]
        with background(worker, env=worker_env, log=tmp / "worker.log",
                        health_url=f"http://127.0.0.1:{port}/health"):
            yield Stack(api, env)
