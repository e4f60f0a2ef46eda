"""The declared automations on a real Prefect server, end to end (the platform: stack.py).

A literature-sync deployment run, started the way a user starts one (`prefect deployment
run … --watch`), must lead to embed-documents and graph-load runs that complete; an
``ingest.object.created`` event POSTed to /api/events must start literature-sync with
the payload's parameters; applying the automations again must change nothing. Every
link is followed through the server's own records: the automation's
``action.executed`` event names the event that triggered it and the flow run it created.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import httpx
import pytest
from prefect.automations import AutomationCore, DoNothing, EventTrigger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
)
from prefect.client.schemas.objects import FlowRun

from flows.automations import (
    DECLARED,
    EMBED_AFTER_SYNC,
    GRAPH_AFTER_SYNC,
    MANAGED_TAG,
    OBJECT_CREATED_EVENT,
    SYNC_ON_OBJECT_CREATED,
    apply,
)
from tasks.literature.sources.replay import RECORDINGS
from tests.integration.deploy.stack import (
    Stack,
    action_outcomes,
    automations_cli,
    counts,
    created_run,
    finished,
    prefect_cli,
)

pytestmark = pytest.mark.integration

SYNC = "literature-sync/openalex-daily"
EMBED, GRAPH, ON_OBJECT = (next(d.name for d in DECLARED if d.deployment == target)
                           for target in (EMBED_AFTER_SYNC, GRAPH_AFTER_SYNC, SYNC_ON_OBJECT_CREATED))

def post_event(stack: Stack, payload: dict, event_id: uuid.UUID | None = None) -> uuid.UUID:
    """What an object-store notification relay sends: one event, plain HTTP."""
    event_id = event_id or uuid.uuid4()
    event = {"id": str(event_id), "occurred": datetime.now(timezone.utc).isoformat(),
             "event": OBJECT_CREATED_EVENT,
             "resource": {"prefect.resource.id": "ki.object.s3://ki-inbox/openalex/2025-12-31.jsonl"},
             "payload": payload}
    response = httpx.post(f"{stack.api_url}/events", json=[event], timeout=30)
    assert response.status_code == 204, response.text
    return event_id


@pytest.fixture(scope="module")
def synced(stack: Stack) -> FlowRun:
    """One OpenAlex sync of the recorded window, run through its deployment."""
    prefect_cli("deployment", "run", SYNC, "--param", f"replay_dir={RECORDINGS}",
                "--param", "since=2000-01-01", "--param", "until=2026-01-01",
                "--watch", "--watch-timeout", "240", env=stack.env, timeout=300)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(SYNC)
        [run] = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])))
    assert run.state.is_completed(), run.state
    return run


def test_completed_sync_embeds_and_loads_the_graph_of_its_documents(synced: FlowRun):
    with get_client(sync_client=True) as client:
        # The server uses a state's id as the id of its state-change event.
        actions = action_outcomes(client, synced.state.id, expected=2)
        assert set(actions) == {EMBED, GRAPH}
        runs = {name: finished(client, created_run(event)) for name, event in actions.items()}

        for name, run in runs.items():
            assert run.state.is_completed(), f"{name}: {run.state}"
            assert run.parameters["documents"] == "changed"
            assert run.created_by.type == "AUTOMATION" and run.created_by.display_value == name
        assert client.read_deployment(runs[EMBED].deployment_id).name == EMBED_AFTER_SYNC.split("/")[1]
        assert client.read_deployment(runs[GRAPH].deployment_id).name == GRAPH_AFTER_SYNC.split("/")[1]
        # The recorded OpenAlex window holds one work: that one is embedded and loaded.
        embedded = counts(client, runs[EMBED].id)
        assert (embedded["documents"], embedded["embedded"], embedded["upserted"]) == ("1", "1", "1")
        graph = counts(client, runs[GRAPH].id)
        assert graph["documents"] == "1" and int(graph["nodes_upserted"]) > 0


def test_object_created_event_runs_the_sync_with_the_payload_parameters(stack: Stack, synced: FlowRun):
    # `synced` moved the OpenAlex watermark to 2026-01-01, so this run needs no network:
    # it finds the source up to date, and its completion runs the embedding again.
    with get_client(sync_client=True) as client:
        # FalkorDB 4.16, the Bolt stand-in, answers no new connection once a client has
        # closed one, so a second graph-load cannot reach it: that automation (covered
        # above) sits this test out.
        graph = next(a for a in client.read_automations() if a.name == GRAPH)
        client.pause_automation(graph.id)
        try:
            event_id = post_event(stack, {"source": "openalex", "until": "2026-01-01",
                                          "key": "openalex/2025-12-31.jsonl"})
            run = finished(client, created_run(action_outcomes(client, event_id, expected=1)[ON_OBJECT]))
            assert client.read_deployment(run.deployment_id).name == SYNC_ON_OBJECT_CREATED.split("/")[1]
            assert {k: run.parameters.get(k) for k in ("source", "since", "until", "query")} == {
                "source": "openalex", "since": None, "until": "2026-01-01", "query": ""}
            assert run.state.is_completed(), run.state
            assert counts(client, run.id)["pages"] == "0"

            chained = action_outcomes(client, run.state.id, expected=1)
            assert set(chained) == {EMBED}
            assert finished(client, created_run(chained[EMBED])).state.is_completed()
        finally:
            client.resume_automation(graph.id)

        # The relay delivers the same notification again: same event id, no second run.
        post_event(stack, {"source": "openalex", "until": "2026-01-01"}, event_id=event_id)
        # A payload the flow's parameter schema rejects starts nothing and says why.
        bad = action_outcomes(client, post_event(stack, {"source": "no-such-source"}), expected=1)[ON_OBJECT]
        assert bad.event == "prefect.automation.action.failed"
        assert "source" in bad.payload["reason"] and "'no-such-source' is not one of" in bad.payload["reason"]
        assert [r.id for r in client.read_flow_runs(deployment_filter=DeploymentFilter(
            id=DeploymentFilterId(any_=[run.deployment_id])))] == [run.id]


def test_applying_twice_leaves_one_of_each_and_removes_only_our_undeclared(stack: Stack):
    def ours(client):
        return {a.name: a for a in client.read_automations() if MANAGED_TAG in a.tags}

    with get_client(sync_client=True) as client:
        before = ours(client)
        assert set(before) == {d.name for d in DECLARED}

        again = automations_cli("apply", env=stack.env)
        assert again.split().count("unchanged") == len(DECLARED), again

        # Drift: a stale managed automation, someone else's automation, a duplicate of
        # one of ours and a hand-paused one.
        noop = EventTrigger(expect={"ingest.test.never"})
        client.create_automation(AutomationCore(name="knowledge-ingest: retired", tags=[MANAGED_TAG],
                                                trigger=noop, actions=[DoNothing()]))
        theirs = client.create_automation(AutomationCore(name="someone else's", trigger=noop,
                                                         actions=[DoNothing()]))
        duplicate = AutomationCore.model_validate(before[EMBED].model_dump(exclude={"id"}))
        client.create_automation(duplicate)
        client.pause_automation(before[GRAPH].id)
        listed = automations_cli("list", env=stack.env)
        assert f"{GRAPH}  [paused]" in listed and "knowledge-ingest: retired  [not declared" in listed

        outcome = apply(client)
        assert outcome == {d.name: "unchanged" for d in DECLARED} | {
            GRAPH: "updated", "knowledge-ingest: retired": "deleted"}
        after = ours(client)
        assert {name: a.id for name, a in after.items()} == {name: a.id for name, a in before.items()}
        assert all(a.enabled for a in after.values())
        assert [a.name for a in client.read_automations()].count(EMBED) == 1
        assert client.read_automation(theirs) is not None
        client.delete_automation(theirs)
