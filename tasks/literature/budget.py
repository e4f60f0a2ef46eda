"""Request budgets of a source shared by all its runs, held by the Prefect server.

``RateLimiter`` spaces the requests of one process only: a backfill beside the daily
deployment, or two workers, would each spend the API's whole allowance. Two kinds of
Prefect global concurrency limit hold the budget where every run sees it:

* ``source-rate:<source>``: ``limit`` = the burst (``ceil(per_second)``, at least 1),
  ``slot_decay_per_second`` = ``per_second``. Every request takes one slot with
  ``rate_limit``, which waits for the server to free one.
* ``source-quota:<source>:<UTC day>``: ``limit`` = ``per_day``, no decay. Every request
  takes one slot that is never released, so the limit's active slots are the day's count.
  A request past it is refused at once (``BudgetExhausted``), not queued until midnight.

Runs create a missing limit from the registry themselves (never changing an existing
one, which an operator may have tuned); ``knowledge-ingest budgets apply`` sets them to
the registry's values and deletes quota limits of past days.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import rate_limit
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from tasks.literature.sources.http import RateLimiter

RATE_PREFIX = "source-rate:"
QUOTA_PREFIX = "source-quota:"
QUOTA_EXHAUSTED = "daily_quota_exhausted"
RATE_WAIT_TIMEOUT = "rate_budget_wait_timeout"


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


class BudgetExhausted(RuntimeError):
    """A run must stop: ``reason`` names which budget (``QUOTA_EXHAUSTED``, ``RATE_WAIT_TIMEOUT``)."""

    def __init__(self, source: str, reason: str, detail: str):
        self.source, self.reason = source, reason
        super().__init__(f"{source}: {reason}: {detail}")


@dataclass(frozen=True)
class Budget:
    source: str
    per_second: float
    per_day: int | None

    @property
    def burst(self) -> int:
        """Requests the rate limit lets through at once after a quiet spell."""
        return max(1, math.ceil(self.per_second))

    @property
    def rate_name(self) -> str:
        return f"{RATE_PREFIX}{self.source}"

    def quota_name(self, day: date) -> str:
        return f"{QUOTA_PREFIX}{self.source}:{day.isoformat()}"


def registry_budgets() -> list[Budget]:
    from tasks.literature.sources import REGISTRY

    return [Budget(e.name, e.per_second, e.per_day) for e in REGISTRY]


def budget_of(source: str) -> Budget:
    for budget in registry_budgets():
        if budget.source == source:
            return budget
    raise ValueError(f"unknown source {source!r}")


def _create_if_missing(client, name: str, limit: int, decay: float | None = None) -> None:
    spec = {"name": name, "limit": limit} | ({"slot_decay_per_second": decay} if decay else {})
    try:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(**spec))
    except ObjectAlreadyExists:  # created by another run, or tuned by an operator: keep it
        pass


class SharedLimiter:
    """``RateLimiter``'s interface (``acquire``, ``pause``, ``sleep``) over a source's
    budget on the Prefect server, so concurrent runs share one allowance.

    A local ``RateLimiter`` still spaces this process's requests and takes ``pause``
    after a 429: that penalty holds back this run only, so one run's Retry-After
    cannot starve the others. ``wait_timeout_s`` bounds the wait for a rate slot
    (``None``: no bound); past it the run stops with ``RATE_WAIT_TIMEOUT``.
    """

    def __init__(self, budget: Budget, *, wait_timeout_s: float | None = 600.0,
                 today: Callable[[], date] = utc_today):
        self.budget = budget
        self.wait_timeout_s = wait_timeout_s
        self.today = today
        self.local = RateLimiter(budget.per_second)
        self.sleep = self.local.sleep
        self._quota_days: set[date] = set()
        with get_client(sync_client=True) as client:
            _create_if_missing(client, budget.rate_name, budget.burst, budget.per_second)

    def acquire(self) -> None:
        """Block until this run may send one request; raise ``BudgetExhausted`` if it may not."""
        self.local.acquire()
        if self.budget.per_day is not None:
            self._take_quota(self.today())
        try:
            rate_limit(self.budget.rate_name, timeout_seconds=self.wait_timeout_s, strict=True)
        except TimeoutError as exc:
            raise BudgetExhausted(
                self.budget.source, RATE_WAIT_TIMEOUT,
                f"no {self.budget.rate_name} slot within {self.wait_timeout_s:g} s (KI_BUDGET_WAIT_TIMEOUT_S)",
            ) from exc

    def pause(self, seconds: float) -> None:
        self.local.pause(seconds)

    def _take_quota(self, day: date) -> None:
        name = self.budget.quota_name(day)
        with get_client(sync_client=True) as client:
            if day not in self._quota_days:
                _create_if_missing(client, name, self.budget.per_day)
                self._quota_days.add(day)
            try:
                client.increment_concurrency_slots(names=[name], slots=1, mode="concurrency")
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 423:
                    raise
                raise BudgetExhausted(
                    self.budget.source, QUOTA_EXHAUSTED,
                    f"all {self.budget.per_day} requests of {name} are spent; the next UTC day has a new quota",
                ) from None


def apply_budgets(client, budgets: list[Budget], today: date | None = None) -> None:
    """Make the server's limits (``client``: a sync Prefect client) match ``budgets``
    with Prefect's upsert, which leaves equal limits alone, so applying twice changes
    nothing; delete quota limits of past days."""
    today = today or utc_today()
    for b in budgets:
        client.upsert_global_concurrency_limit_by_name(b.rate_name, b.burst, b.per_second)
        if b.per_day is not None:
            client.upsert_global_concurrency_limit_by_name(b.quota_name(today), b.per_day)
    for limit in budget_limits(client):
        day = limit.name.rpartition(":")[2]
        if limit.name.startswith(QUOTA_PREFIX) and day < today.isoformat():
            try:
                client.delete_global_concurrency_limit_by_name(limit.name)
            except ObjectNotFound:  # deleted by a concurrent apply
                pass


def budget_limits(client) -> list:
    """Every ``source-rate:``/``source-quota:`` limit on the server (a sync Prefect client), by name."""
    found, offset, page = [], 0, 200
    while True:
        limits = client.read_global_concurrency_limits(limit=page, offset=offset)
        found += [x for x in limits if x.name.startswith((RATE_PREFIX, QUOTA_PREFIX))]
        if len(limits) < page:
            return sorted(found, key=lambda x: x.name)
        offset += page
