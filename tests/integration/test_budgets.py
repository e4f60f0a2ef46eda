"""Per-source request budgets held by a real Prefect server, shared by concurrent runs."""

from __future__ import annotations

import contextvars
import re
import threading
import time
import uuid
from datetime import date

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

import tasks.literature.tasks
from flows.cli import main as cli
from flows.literature_sync import literature_sync
from tasks.lake import Lake
from tasks.literature.budget import (
    QUOTA_EXHAUSTED,
    Budget,
    BudgetExhausted,
    SharedLimiter,
    apply_budgets,
    budget_limits,
    utc_today,
)
from tasks.literature.sources.http import RateLimiter, fetch
from tests.fakes import source_settings
from tests.openalex_pages import chain_bodies, cursor_chain

URL = "https://api.example.org/things"
PER_SECOND, REQUESTS_PER_RUN = 4.0, 8


def unique(name: str) -> str:
    """Limit names of one test only: the server is shared by the whole session."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


class RateLimitedServer:
    """A local API that answers 429 above its rate: a token bucket of ``capacity`` requests
    refilled at ``per_second`` (the documented limit, plus one request of slack: the Prefect
    server grants a slot a moment before the request is sent)."""

    def __init__(self, per_second: float, capacity: float):
        self.per_second, self.capacity, self.tokens = per_second, capacity, capacity
        self.last, self.times, self.refused = time.monotonic(), [], 0
        self.lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.per_second)
            self.last = now
            self.times.append(now)
            if self.tokens < 1:
                self.refused += 1
                return httpx.Response(429, headers={"Retry-After": "1"}, content=b"slow down")
            self.tokens -= 1
            return httpx.Response(200, content=b"ok")


def two_concurrent_runs(make_limiter, server: RateLimitedServer) -> list[float]:
    """Two fetch loops in threads, each with its own limiter (as two runs have), against
    ``server``; request times. A refused request fails its loop (no retries here)."""
    def run():
        limiter = make_limiter()
        with httpx.Client(transport=httpx.MockTransport(server.handler)) as client:
            for _ in range(REQUESTS_PER_RUN):
                try:
                    fetch(client, "budget-test", URL, limiter=limiter, settings=source_settings())
                except Exception:
                    return

    # Threads see the test's Prefect settings only through a copy of its context (as task runs do).
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(run,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return sorted(server.times)


def worst_excess(times: list[float], per_second: float, burst: int) -> float:
    """Largest ``count - (burst + per_second * span)`` over every interval of requests."""
    return max(j - i + 1 - (burst + per_second * (times[j] - times[i]))
               for i in range(len(times)) for j in range(i, len(times)))


def test_two_concurrent_runs_share_the_per_second_budget(prefect_api):
    budget = Budget(unique("shared"), PER_SECOND, None)
    server = RateLimitedServer(PER_SECOND, budget.burst + 1)
    times = two_concurrent_runs(lambda: SharedLimiter(budget), server)
    assert server.refused == 0 and len(times) == 2 * REQUESTS_PER_RUN
    assert worst_excess(times, PER_SECOND, budget.burst) <= 1.0
    # The same two runs with in-process limiters only spend the budget twice over: refused.
    server = RateLimitedServer(PER_SECOND, budget.burst + 1)
    two_concurrent_runs(lambda: RateLimiter(PER_SECOND), server)
    assert server.refused > 0


def test_the_daily_quota_refuses_requests_past_per_day_until_the_next_utc_day(prefect_api):
    day = [date(2024, 3, 1)]
    limiter = SharedLimiter(Budget(unique("quota"), 100.0, 2), today=lambda: day[0])
    limiter.acquire()
    limiter.acquire()
    with pytest.raises(BudgetExhausted) as refused:  # at once: the quota is not waited for
        limiter.acquire()
    assert refused.value.reason == QUOTA_EXHAUSTED
    day[0] = date(2024, 3, 2)
    limiter.acquire()
    with get_client(sync_client=True) as client:
        used = {d: client.read_global_concurrency_limit_by_name(limiter.budget.quota_name(d)).active_slots
                for d in (date(2024, 3, 1), date(2024, 3, 2))}
    assert used == {date(2024, 3, 1): 2, date(2024, 3, 2): 1}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KI_DATA_DIR", str(tmp_path))
    return tmp_path


def test_an_exhausted_quota_stops_the_sync_with_its_reason_and_the_next_run_resumes(
        data_dir, prefect_api, monkeypatch):
    requested: list[int] = []
    bodies = chain_bodies(6, 5)
    monkeypatch.setattr(tasks.literature.tasks, "replay_transport", lambda _dir: cursor_chain(bodies, requested.append))
    budget = Budget(unique("openalex"), 100.0, 3)
    monkeypatch.setattr(tasks.literature.tasks, "budget_of", lambda source: budget)
    window = dict(source="openalex", since=date(2024, 1, 1), until=date(2024, 1, 2), replay_dir="synthetic",
                  build_marts=False)

    first = literature_sync(**window)
    assert (first["stopped"], first["pages_landed"], requested) == (QUOTA_EXHAUSTED, 3, [0, 1, 2])
    state = Lake((data_dir / "lake").as_uri()).get_json("state/openalex/all.json")
    assert state["watermark"] is None and len(state["in_progress"]["pages"]) == 3

    raised = Budget(budget.source, budget.per_second, 10)
    monkeypatch.setattr(tasks.literature.tasks, "budget_of", lambda source: raised)
    with get_client(sync_client=True) as client:
        apply_budgets(client, [raised])  # an operator raises today's quota
    requested.clear()
    second = literature_sync(**window)
    assert "stopped" not in second and requested == [3, 4, 5]
    assert (second["pages"], second["records"], second["watermark"]) == (6, 30, "2024-01-02")


def limits_by_name() -> dict[str, tuple]:
    with get_client(sync_client=True) as client:
        return {x.name: (x.id, x.updated, x.limit, x.slot_decay_per_second) for x in budget_limits(client)}


def test_budgets_apply_creates_the_registry_limits_and_a_second_apply_changes_nothing(prefect_api, capsys):
    stale = "source-quota:openalex:2000-01-01"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=stale, limit=5))

    assert cli(["budgets", "apply"]) == 0
    first = limits_by_name()
    today = utc_today().isoformat()
    assert first["source-rate:openalex"][2:] == (10, 10.0)
    assert first["source-rate:arxiv"][2:] == (1, pytest.approx(1 / 3))
    assert first[f"source-quota:openalex:{today}"][2:] == (100_000, 0.0)
    assert f"source-quota:arxiv:{today}" not in first  # arXiv has no daily quota
    assert stale not in first  # past days' quotas are deleted
    # Slots in use depend on earlier runs of the session; the limit and decay do not.
    assert re.search(r"^source-rate:openalex  \d+/10  decay 10/s$", capsys.readouterr().out, re.M)

    assert cli(["budgets", "apply"]) == 0
    assert limits_by_name() == first
