"""Shared HTTP behaviour: rate limit, retries, size bound, secret redaction, safe XML."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import pytest

from tasks.literature.sources.base import PageError, SourceError
from tasks.literature.sources.http import (
    RateLimiter,
    fetch,
    last_day,
    make_client,
    parse_retry_after,
    parse_xml,
    redact_params,
    redact_url,
)
from tasks.settings import Settings
from tests.fakes import FakeClock, source_settings


def settings(**overrides) -> Settings:
    return source_settings(**{"http_max_retries": 3, "max_response_bytes": 10_000, **overrides})


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
URL = "https://api.example.org/things"


def run(responses, *, params=None, rng=lambda: 0.5, describe_error=None, **settings_overrides):
    """fetch() against a transport answering from ``responses`` in turn."""
    clock = FakeClock(1000.0)
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = httpx.Client(transport=httpx.MockTransport(handler))
    limiter = RateLimiter(10, clock=clock.clock, sleep=clock.sleep)
    call = lambda: fetch(client, "demo", URL, params or {"q": "x"}, limiter=limiter,  # noqa: E731
                         settings=settings(**settings_overrides), rng=rng,
                         describe_error=describe_error)
    return call, clock, seen


# --- rate limiter -----------------------------------------------------------------

def test_limiter_never_exceeds_rate():
    clock = FakeClock(1000.0)
    limiter = RateLimiter(10, clock=clock.clock, sleep=clock.sleep)
    stamps = []
    for _ in range(35):
        limiter.acquire()
        stamps.append(clock.now)
    assert stamps[0] == 1000.0  # the first call does not wait
    assert all(b - a >= 0.1 - 1e-9 for a, b in zip(stamps, stamps[1:]))
    for t in stamps:  # any one-second window holds at most 10 requests
        assert sum(t <= s < t + 1.0 - 1e-9 for s in stamps) <= 10  # float slack


def test_limiter_does_not_wait_when_calls_are_already_slow():
    clock = FakeClock(1000.0)
    limiter = RateLimiter(1 / 3, clock=clock.clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 5
    limiter.acquire()
    assert clock.sleeps == []


def test_limiter_gives_concurrent_callers_distinct_slots():
    clock = FakeClock(1000.0)
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:  # the clock stands still: waits show the reserved slots
        with lock:
            waits.append(seconds)

    limiter = RateLimiter(10, clock=clock.clock, sleep=record)
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(5)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(round(w, 6) for w in waits) == [round(0.1 * i, 6) for i in range(1, 20)]


def test_limiter_rejects_non_positive_rate():
    with pytest.raises(ValueError):
        RateLimiter(0)


# --- retries ----------------------------------------------------------------------

def test_429_retry_after_seconds_is_honoured():
    call, clock, seen = run([httpx.Response(429, headers={"Retry-After": "7"}),
                             httpx.Response(200, content=b"ok")])
    fetched = call()
    assert fetched.body == b"ok" and fetched.status_code == 200
    assert clock.sleeps == [7.0]
    assert len(seen) == 2


def test_429_retry_after_http_date_is_honoured():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(" 12 ") == 12.0


def test_retry_after_beyond_the_cap_fails_fast():
    call, clock, seen = run([httpx.Response(429, headers={"Retry-After": "86400"}, text="daily limit")])
    with pytest.raises(SourceError, match="retry after 86400 s") as err:
        call()
    assert err.value.status == 429 and clock.sleeps == [] and len(seen) == 1


def test_retry_waits_of_one_request_are_capped_in_total():
    throttled = [httpx.Response(429, headers={"Retry-After": "200"}) for _ in range(3)]
    call, clock, seen = run(throttled, http_max_retry_wait_s=300)
    with pytest.raises(SourceError, match="after 200 s of retry waits: more than the 300 s") as err:
        call()
    assert err.value.status == 429 and clock.sleeps == [200.0] and len(seen) == 2


def test_500_then_200_recovers_with_jittered_backoff():
    call, clock, seen = run([httpx.Response(500), httpx.Response(502), httpx.Response(200, content=b"ok")],
                            rng=lambda: 0.5)
    assert call().body == b"ok"
    assert clock.sleeps == [0.5, 1.0]  # rng() * base * 2**attempt
    assert len(seen) == 3


def test_timeouts_and_transport_errors_are_retried():
    request = httpx.Request("GET", URL)
    call, clock, seen = run([httpx.ReadTimeout("slow", request=request),
                             httpx.ConnectError("refused", request=request),
                             httpx.Response(200, content=b"ok")])
    assert call().body == b"ok"
    assert len(seen) == 3 and len(clock.sleeps) == 2


def test_exhausted_retries_raise_source_error():
    call, clock, seen = run([httpx.Response(503, text="maintenance")] * 4)
    with pytest.raises(SourceError, match="gave up after 4 attempts: maintenance") as err:
        call()
    assert err.value.status == 503 and err.value.source == "demo"
    assert len(seen) == 4 and len(clock.sleeps) == 3


def test_exhausted_transport_errors_have_no_status():
    request = httpx.Request("GET", URL)
    call, _, seen = run([httpx.ConnectError("refused", request=request)] * 2, http_max_retries=1)
    with pytest.raises(SourceError, match="ConnectError: refused") as err:
        call()
    assert err.value.status is None and len(seen) == 2


def test_transport_error_text_is_scrubbed_of_secrets():
    request = httpx.Request("GET", URL)
    call, _, _ = run([httpx.ConnectError("refused for key s3cr3t", request=request)],
                     params={"api_key": "s3cr3t"}, http_max_retries=0)
    with pytest.raises(SourceError, match=r"refused for key \*\*\*") as err:
        call()
    assert "s3cr3t" not in str(err.value)


def test_undecodable_body_fails_without_retry():
    broken = httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=iter([b"not gzip"]))
    call, clock, seen = run([broken])
    with pytest.raises(SourceError, match="DecodingError") as err:
        call()
    assert err.value.status == 200 and len(seen) == 1 and clock.sleeps == []


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_fail_at_once_without_secrets(status):
    body = '{"error": "Forbidden", "message": "bad key s3cr3t-key for ops@example.org"}'
    call, clock, seen = run([httpx.Response(status, text=body)],
                            params={"q": "x", "api_key": "s3cr3t-key", "mailto": "ops@example.org"})
    with pytest.raises(SourceError) as err:
        call()
    error = err.value
    assert (error.source, error.status) == ("demo", status)
    assert error.url == f"{URL}?q=x"
    assert "s3cr3t-key" not in str(error) and "ops@example.org" not in str(error)
    assert '"error": "Forbidden"' in error.detail and "***" in error.detail
    assert f"HTTP {status}" in str(error)
    assert len(seen) == 1 and clock.sleeps == []


def test_describe_error_turns_the_body_into_the_message():
    call, _, _ = run([httpx.Response(400, text="<x>opaque</x>")], describe_error=lambda b: "clear reason")
    with pytest.raises(SourceError, match="clear reason"):
        call()


def test_success_reports_url_and_params_without_secrets():
    call, _, seen = run([httpx.Response(200, content=b"ok")],
                        params={"q": "a b", "api_key": "k", "email": "e@x.org", "tool": "t"})
    fetched = call()
    assert seen[0].url.params["api_key"] == "k"  # the request itself carries the key
    assert fetched.params == {"q": "a b", "tool": "t"}
    assert "api_key" not in fetched.url and "email" not in fetched.url


# --- size bound -------------------------------------------------------------------

def counted_stream(chunks: int, size: int, counter: list[int]):
    for _ in range(chunks):
        counter[0] += 1
        yield b"x" * size


def test_declared_oversized_body_is_refused_unread():
    counter = [0]
    response = httpx.Response(200, headers={"Content-Length": str(10**9)},
                              content=counted_stream(10**6, 1024, counter))
    call, _, _ = run([response])
    with pytest.raises(SourceError, match="declares 1000000000 bytes") as err:
        call()
    assert counter[0] == 0 and err.value.status == 200


def test_chunked_body_past_the_bound_stops_reading():
    counter = [0]
    call, _, _ = run([httpx.Response(200, content=counted_stream(10**6, 1024, counter))])
    start = time.perf_counter()
    with pytest.raises(SourceError, match="exceeds the 10000-byte bound"):
        call()
    assert counter[0] <= 11  # 10 000 bytes bound, 1 KiB chunks
    assert time.perf_counter() - start < 1.0


def test_body_at_the_bound_is_accepted():
    call, _, _ = run([httpx.Response(200, content=b"x" * 10_000)])
    assert len(call().body) == 10_000


# --- redaction, windows, XML, client ----------------------------------------------

def test_redaction_strips_secret_params_and_userinfo():
    url = "https://user:pw@h.org/p?api_key=A&key=B&token=C&email=D&mailto=E&API_KEY=F&keep=1"
    assert redact_url(url) == "https://h.org/p?keep=1"
    assert redact_params({"api_key": "A", "Token": "C", "retstart": 200, "WebEnv": "W"}) == {
        "retstart": 200, "WebEnv": "W"}
    assert redact_url("https://h.org/p?x=1", secrets=("x",)) == "https://h.org/p"


def test_last_day_of_half_open_window():
    assert last_day(date(2024, 1, 1), date(2024, 2, 1)) == date(2024, 1, 31)
    assert last_day(date(2024, 1, 1), date(2024, 1, 1)) is None
    with pytest.raises(ValueError, match="before its start"):
        last_day(date(2024, 1, 2), date(2024, 1, 1))


def test_billion_laughs_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(PageError, match="hostile XML"):
        parse_xml((FIXTURES / "synthetic" / "billion_laughs.xml").read_bytes(), "demo")
    assert time.perf_counter() - start < 1.0


def test_external_entities_and_malformed_xml_are_page_errors():
    with pytest.raises(PageError, match="hostile XML"):
        parse_xml((FIXTURES / "synthetic" / "external_entity.xml").read_bytes(), "demo")
    for body in (b"<a><b></a>", b"", b'<?xml version="1.0" encoding="bogus"?><a/>'):
        with pytest.raises(PageError, match="not well-formed"):
            parse_xml(body, "demo")


def test_make_client_names_the_contact():
    with make_client(settings()) as client:
        assert client.headers["User-Agent"] == "knowledge-ingest/0.1 (mailto:ops@example.org)"
        assert client.timeout.read == 30.0
