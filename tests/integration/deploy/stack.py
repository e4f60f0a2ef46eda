"""The platform on one machine for the automation tests: a real ``prefect server start``,
every deployment of prefect.yaml registered by ``prefect deploy --all``, a process worker
standing in for the Kubernetes pools, FalkorDB standing in for Neo4j, and the automations
applied by the same command the Helm hook runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect.events.schemas.events import ReceivedEvent
from prefect.settings import PREFECT_API_URL, temporary_settings

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

T = TypeVar("T")

POOL = "ki-automations-e2e"
POLL_LANDING = "elt-ingest/poll-landing"

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
def platform(tmp: Path, worker_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """Server, deployments, automations and a worker; the caller points its client at api_url.

    Every scheduled deployment is paused (which also deletes the runs the scheduler already
    made): their runs would race the tests' own runs, and the 5-minute telemetry batch has no
    broker here. A test that needs a schedule resumes its deployment and pauses it again.
    """
    with prefect_server(tmp / "server") as api, local_falkordb(tmp / "falkordb") as bolt:
        env = prefect_env(tmp / "cli", api)
        prefect_cli("work-pool", "create", POOL, "--type", "process", "--overwrite", env=env)
        prefect_file = local_prefect_yaml(tmp / "prefect.yaml", POOL)
        prefect_cli("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file), env=env)
        automations_cli("apply", env=env)
        with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            for deployment in client.read_deployments():
                if deployment.schedules:
                    client.pause_deployment(deployment.id)

        port = free_port()
        worker_env = prefect_env(tmp / "worker", api) | {
            "KI_DATA_DIR": str(tmp / "data"),
            "NEO4J_URI": bolt.uri,
            "HF_HUB_OFFLINE": "1",  # no model hub here: embed falls back to the packaged model
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
            "PREFECT_WORKER_WEBSERVER_PORT": str(port),
        } | (worker_env or {})
        worker = [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process",
                  "--with-healthcheck"]
        with background(worker, env=worker_env, log=tmp / "worker.log",
                        health_url=f"http://127.0.0.1:{port}/health"):
            yield Stack(api, env)


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout}s")
        time.sleep(1)
    return found


def action_outcomes(client: SyncPrefectClient, triggering_event_id: uuid.UUID,
                    expected: int) -> dict[str, ReceivedEvent]:
    """What each automation did about one event: {automation name: action event}, once all answered."""
    def probe():
        page = client.read_events(EventFilter(
            event=EventNameFilter(name=["prefect.automation.action.executed",
                                        "prefect.automation.action.failed"]),
            related=EventRelatedFilter(id=[f"prefect.event.{triggering_event_id}"])),
            limit=50)  # the client's default (100) is over the server's maximum
        found = {e.resource["prefect.resource.name"]: e for e in page.events}
        return found if len(found) >= expected else None
    return wait_for(probe, f"automation actions for event {triggering_event_id}")


def created_run(action_event: ReceivedEvent) -> uuid.UUID:
    assert action_event.event == "prefect.automation.action.executed", action_event.payload
    return next(uuid.UUID(r.id.removeprefix("prefect.flow-run.")) for r in action_event.related
                if r.role == "flow-run")


def finished(client: SyncPrefectClient, flow_run_id: uuid.UUID, timeout: float = 180) -> FlowRun:
    def probe():
        run = client.read_flow_run(flow_run_id)
        return run if run.state and run.state.is_final() else None
    return wait_for(probe, f"final state of flow run {flow_run_id}", timeout)


def counts(client: SyncPrefectClient, flow_run_id: uuid.UUID) -> dict[str, str]:
    """The metric → value table artifact a flow run published."""
    [artifact] = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {row["metric"]: row["value"] for row in json.loads(artifact.data)}
