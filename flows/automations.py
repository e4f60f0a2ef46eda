"""Event-based automations, declared as code: ``python -m flows.automations apply|list|delete-undeclared``.

Declared here (see the README, "Automations"):

* **embed after sync** and **graph after sync**: every ``literature-sync`` run that a
  deployment started and that ends ``Completed`` runs ``embed-documents/embed-after-sync``
  and ``graph-load/graph-after-sync`` with ``documents="changed"``. That is the sync's
  window: both flows select the documents whose ``record_hash`` differs from the one
  they last embedded/loaded, i.e. what the sync inserted or updated (plus anything an
  earlier failed run left behind). Two automations, so one can be paused alone (graph
  while Neo4j is down) without stopping the other.
* **sync on object created**: a custom event ``ingest.object.created`` (posted to the
  Prefect API's ``/api/events`` by an object-store notification or a webhook relay)
  runs ``literature-sync/on-object-created`` with parameters from the event payload::

      {"source": "<a registry source>",     required (knowledge-ingest sources list)
       "since": "YYYY-MM-DD",                optional: backfill [since, until); absent = from the watermark
       "until": "YYYY-MM-DD",                optional: end of the window, exclusive; absent = today
       "query": "..."}                       optional: the source query (default "")

  Other payload fields (the object key, bucket …) are ignored by the flow but stay in
  the event feed. A payload without a valid source creates no run: the API's schema
  check refuses it and the automation records an ``action.failed`` event saying why.
  (That check ignores date formats: a bad date gives a run that fails at once.)

* **ELT on object created**: a custom event ``elt.object.created`` whose payload is an
  object store's notification body as the store sent it (an S3 event notification, an
  EventBridge event, a GCS Pub/Sub message; ``knowledge-ingest elt notify FILE`` is such
  a relay) runs ``elt-ingest/on-object-created`` with ``notification`` = the payload. The
  flow ingests the objects of the body that lie in the lake's ``landing/<dataset>/``
  and reports the others as ignored.

``apply`` creates or updates each declared automation by name (a second apply changes
nothing) and deletes automations tagged ``MANAGED_TAG`` that are no longer declared, so
renaming or removing one here removes it from the server. It resolves the target
deployments first and changes nothing if one is missing: run ``prefect deploy --all``
before it (the Helm chart's hooks do, in that order). Declared state wins: an
automation paused in the UI is enabled again by the next apply.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect.automations import Automation, AutomationCore, EventTrigger, RunDeployment
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.sorting import AutomationSort
from prefect.events.filters import AutomationFilter, AutomationFilterTags
from prefect.exceptions import ObjectNotFound

from tasks.elt.notifications import OBJECT_CREATED_EVENT as ELT_OBJECT_CREATED_EVENT

MANAGED_TAG = "managed-by:knowledge-ingest"
"""Marks the automations ``apply`` owns; only those are ever deleted."""

# Deployments the automations run, as "<flow name>/<deployment name>"; prefect.yaml declares them.
EMBED_AFTER_SYNC = "embed-documents/embed-after-sync"
GRAPH_AFTER_SYNC = "graph-load/graph-after-sync"
SYNC_ON_OBJECT_CREATED = "literature-sync/on-object-created"
ELT_ON_OBJECT_CREATED = "elt-ingest/on-object-created"

OBJECT_CREATED_EVENT = "ingest.object.created"

# Rendered by the Prefect server when the automation fires. A single {{ … }} keeps the
# JSON type of the value; default(none) turns a missing field into null, so a payload
# without "source" fails the flow's parameter schema with a message naming "source".
OBJECT_CREATED_PARAMETERS = {
    "source": "{{ event.payload.source | default(none) }}",
    "since": "{{ event.payload.since | default(none) }}",
    "until": "{{ event.payload.until | default(none) }}",
    "query": "{{ event.payload.query | default('') }}",
}


@dataclass(frozen=True)
class Declared:
    """One automation: a trigger that runs one deployment with these parameters."""

    name: str
    description: str
    trigger: EventTrigger
    deployment: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def automation(self, deployment_id: UUID) -> AutomationCore:
        # Every field explicitly set: updates send only set fields (exclude_unset).
        return AutomationCore(
            name=self.name,
            description=self.description,
            enabled=True,
            tags=[MANAGED_TAG],
            trigger=self.trigger,
            actions=[RunDeployment(source="selected", deployment_id=deployment_id,
                                   parameters=self.parameters)],
            actions_on_trigger=[],
            actions_on_resolve=[],
        )


def _literature_sync_completed() -> EventTrigger:
    """Completed literature-sync runs started by a deployment.

    In-process runs and subflows (the demo's three syncs) carry no deployment: their
    data is wherever the caller ran, not necessarily in the lake the pool's jobs read.
    """
    return EventTrigger(
        expect={"prefect.flow-run.Completed"},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related=[
            {"prefect.resource.role": "flow", "prefect.resource.name": "literature-sync"},
            {"prefect.resource.role": "deployment"},
        ],
        posture="Reactive",
        threshold=1,
    )


DECLARED: tuple[Declared, ...] = (
    Declared(
        name="knowledge-ingest: embed after literature sync",
        description="A completed literature-sync deployment run embeds the documents it changed.",
        trigger=_literature_sync_completed(),
        deployment=EMBED_AFTER_SYNC,
        parameters={"documents": "changed"},
    ),
    Declared(
        name="knowledge-ingest: graph after literature sync",
        description="A completed literature-sync deployment run loads the graph of the documents it changed.",
        trigger=_literature_sync_completed(),
        deployment=GRAPH_AFTER_SYNC,
        parameters={"documents": "changed"},
    ),
    Declared(
        name="knowledge-ingest: sync on object created",
        description=(f"A {OBJECT_CREATED_EVENT} event runs literature-sync with source, since, "
                     "until and query from its payload."),
        trigger=EventTrigger(expect={OBJECT_CREATED_EVENT}, posture="Reactive", threshold=1),
        deployment=SYNC_ON_OBJECT_CREATED,
        parameters=OBJECT_CREATED_PARAMETERS,
    ),
    Declared(
        name="knowledge-ingest: ELT on object created",
        description=(f"A {ELT_OBJECT_CREATED_EVENT} event (an object store's notification body as payload) "
                     "runs elt-ingest for the objects it names."),
        trigger=EventTrigger(expect={ELT_OBJECT_CREATED_EVENT}, posture="Reactive", threshold=1),
        deployment=ELT_ON_OBJECT_CREATED,
        parameters={"notification": "{{ event.payload }}"},
    ),
)

_COMPARED = {"name", "description", "enabled", "tags", "trigger", "actions",
             "actions_on_trigger", "actions_on_resolve"}


class MissingDeployments(RuntimeError):
    """An automation targets a deployment the server does not have (yet)."""


def _all_automations(client: SyncPrefectClient, managed_only: bool = False) -> list[Automation]:
    """Every automation (or every managed one), newest first, paged: the API caps one answer."""
    tags = AutomationFilter(tags=AutomationFilterTags(all_=[MANAGED_TAG])) if managed_only else None
    found: list[Automation] = []
    while page := client.read_automations(automations=tags, sort=AutomationSort.CREATED_DESC,
                                          limit=200, offset=len(found)):
        found += page
    return found


def _deployment_ids(client: SyncPrefectClient) -> dict[str, UUID]:
    ids, missing = {}, []
    for name in sorted({d.deployment for d in DECLARED}):
        try:
            ids[name] = client.read_deployment_by_name(name).id
        except ObjectNotFound:
            missing.append(name)
    if missing:
        raise MissingDeployments(
            f"deployment(s) {', '.join(missing)} not found on the Prefect API: register them from "
            "prefect.yaml first (prefect deploy --all); no automation was changed")
    return ids


def _unchanged(current: Automation, desired: AutomationCore) -> bool:
    return (AutomationCore.model_validate(current.model_dump()).model_dump(include=_COMPARED)
            == desired.model_dump(include=_COMPARED))


def apply(client: SyncPrefectClient) -> dict[str, str]:
    """Make the server hold exactly what is declared; returns what happened to each name."""
    ids = _deployment_ids(client)
    by_name: dict[str, list[Automation]] = {}
    for automation in _all_automations(client):
        by_name.setdefault(automation.name, []).append(automation)

    outcome: dict[str, str] = {}
    for item in DECLARED:
        desired = item.automation(ids[item.deployment])
        *duplicates, current = by_name.get(item.name) or [None]
        for duplicate in duplicates:  # the name is ours: one automation per name, the oldest kept
            client.delete_automation(duplicate.id)
        if current is None:
            client.create_automation(desired)
            outcome[item.name] = "created"
        elif _unchanged(current, desired):
            outcome[item.name] = "unchanged"
        else:
            client.update_automation(current.id, desired)
            outcome[item.name] = "updated"
    for name in delete_undeclared(client):
        outcome[name] = "deleted"
    return outcome


def delete_undeclared(client: SyncPrefectClient) -> list[str]:
    """Delete managed automations whose name is no longer declared; returns their names."""
    names = {d.name for d in DECLARED}
    stale = [a for a in _all_automations(client, managed_only=True) if a.name not in names]
    for automation in stale:
        client.delete_automation(automation.id)
    return [a.name for a in stale]


def describe(client: SyncPrefectClient) -> list[str]:
    """One line per declared or managed automation, with its state on the server."""
    automations = _all_automations(client)
    on_server = {a.name: a for a in automations}
    names = {d.name for d in DECLARED}
    lines = []
    for item in DECLARED:
        found = on_server.get(item.name)
        state = "missing" if found is None else ("enabled" if found.enabled else "paused")
        lines.append(f"{item.name}  [{state}]  {sorted(item.trigger.expect)} -> {item.deployment}")
    lines += [f"{a.name}  [not declared: apply deletes it]"
              for a in automations if MANAGED_TAG in a.tags and a.name not in names]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.automations", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["apply", "list", "delete-undeclared"])
    args = parser.parse_args(argv)
    commands: dict[str, Callable[[SyncPrefectClient], list[str]]] = {
        "apply": lambda c: [f"{state:9} {name}" for name, state in apply(c).items()],
        "list": describe,
        "delete-undeclared": lambda c: [f"deleted   {name}" for name in delete_undeclared(c)],
    }
    with get_client(sync_client=True) as client:
        try:
            lines = commands[args.command](client)
        except MissingDeployments as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
