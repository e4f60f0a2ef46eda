"""HTTP behaviour shared by every literature source (plain Python, no Prefect).

One place decides how the project talks to public APIs, so every source gets the
same guarantees: a per-source rate limit that is never exceeded, retries with
exponential backoff and full jitter on 429/5xx/timeouts/transport errors (honouring
``Retry-After``), a hard bound on response size (bodies are streamed and never read
past the bound), and errors and manifests that never carry secrets.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from xml.etree.ElementTree import Element

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from tasks.literature.sources.base import PageError, SourceError
from tasks.settings import Settings

log = logging.getLogger(__name__)

SECRET_PARAMS: frozenset[str] = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "email", "mailto"}
)
"""Query parameters never written to logs, errors or manifests. ``mailto``/``email``
carry the operator's contact address: personal data, not needed to replay a request."""

RETRY_STATUSES = frozenset({408, 429})
"""Retried besides every 5xx."""
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
ERROR_BODY_BYTES = 64 * 1024
"""How much of an error response is read to explain it."""
EXCERPT_CHARS = 300

USER_AGENT = "knowledge-ingest/0.1"


class RateLimiter:
    """Spaces calls at least ``1 / per_second`` apart (a bucket of one token).

    Thread-safe: each caller reserves the next free slot under a lock and sleeps
    outside it, so concurrent tasks sharing a limiter never exceed the rate.
    ``clock`` and ``sleep`` are injectable so tests never wait for real; ``fetch``
    also uses ``sleep`` for its retry pauses.
    """

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not per_second > 0:
            raise ValueError(f"rate must be positive, got {per_second!r}")
        self.per_second = per_second
        self.interval = 1.0 / per_second
        self.clock = clock
        self.sleep = sleep
        self._next = -math.inf
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Hold every user of this limiter back for ``seconds`` (after a 429)."""
        with self._lock:
            self._next = max(self._next, self.clock() + seconds)


_SHARED: dict[tuple[str, float], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(source: str, per_second: float) -> RateLimiter:
    """The process-wide limiter of a source, so concurrent tasks share one budget."""
    with _SHARED_LOCK:
        limiter = _SHARED.get((source, per_second))
        if limiter is None:
            limiter = _SHARED[(source, per_second)] = RateLimiter(per_second)
        return limiter


def make_client(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An ``httpx.Client`` with the project's timeout and a User-Agent naming the contact."""
    agent = USER_AGENT
    if settings.contact_email:
        agent = f"{USER_AGENT} (mailto:{settings.contact_email})"
    return httpx.Client(
        timeout=settings.http_timeout_s,
        headers={"User-Agent": agent},
        follow_redirects=True,
        transport=transport,
    )


def redact_params(
    params: Mapping[str, object] | None, secrets: Iterable[str] = SECRET_PARAMS
) -> dict:
    """Request parameters without secret ones, fit for logs and manifests."""
    hidden = {s.lower() for s in secrets}
    return {k: v for k, v in (params or {}).items() if k.lower() not in hidden}


def redact_url(url: str | httpx.URL, secrets: Iterable[str] = SECRET_PARAMS) -> str:
    """A URL without secret query parameters and without user:password."""
    hidden = {s.lower() for s in secrets}
    url = httpx.URL(url)
    if url.userinfo:
        url = url.copy_with(userinfo=b"")
    for name in {k for k in url.params.keys() if k.lower() in hidden}:
        url = url.copy_remove_param(name)
    return str(url)


def last_day(since: date, until: date) -> date | None:
    """Inclusive end of the half-open window ``[since, until)``; None when it is empty."""
    if until < since:
        raise ValueError(f"window end {until} is before its start {since}")
    return None if until == since else until - timedelta(days=1)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_xml(body: bytes, source: str) -> Element:
    """Parse an XML response with defusedxml: entity declarations (billion laughs,
    external entities) are refused before expansion, so a hostile page fails fast."""
    try:
        return fromstring(body)
    except DefusedXmlException as exc:
        raise PageError(f"{source}: refused hostile XML ({exc!r})") from exc
    except (ParseError, LookupError, ValueError) as exc:  # LookupError: unknown encoding
        raise PageError(f"{source}: page is not well-formed XML ({exc})") from exc


@dataclass(frozen=True)
class Fetched:
    """A successful response, read in full within the size bound."""

    status_code: int
    body: bytes
    url: str
    """Final request URL without secrets."""
    params: dict = field(default_factory=dict)
    """Request parameters without secrets."""
    headers: httpx.Headers = field(default_factory=httpx.Headers)


def fetch(
    client: httpx.Client,
    source: str,
    url: str,
    params: Mapping[str, object] | None = None,
    *,
    limiter: RateLimiter,
    settings: Settings,
    secrets: Iterable[str] = SECRET_PARAMS,
    headers: Mapping[str, str] | None = None,
    describe_error: Callable[[bytes], str | None] | None = None,
    rng: Callable[[], float] = random.random,
) -> Fetched:
    """GET ``url`` under the source's rate limit, retrying what is worth retrying.

    Retries (at most ``settings.http_max_retries``) on 408/429/5xx, timeouts and
    transport errors, waiting ``Retry-After`` when the server sends it and otherwise
    ``rng() * min(cap, base * 2**attempt)`` (full jitter). A wait that would take the
    request's retry waits past ``settings.http_max_retry_wait_s`` fails it instead: the
    task-level retry can come back later rather than hold a worker. Other statuses, an
    oversized body and exhausted retries raise ``SourceError`` naming the source,
    the URL without secrets, the status and a short body excerpt;
    ``describe_error`` may turn a source's error body into a clearer message.
    ``headers`` (an API key header …) are sent but never logged, and their values
    are masked wherever a server echoes them.
    """
    secrets = frozenset(s.lower() for s in secrets)
    request_url = client.build_request("GET", url, params=params).url
    safe_url = redact_url(request_url, secrets)
    safe_params = redact_params(params, secrets)
    secret_values = [
        str(v) for k, v in (params or {}).items() if k.lower() in secrets and str(v)
    ] + [v for v in (headers or {}).values() if v]
    attempts = max(0, settings.http_max_retries) + 1
    attempt = 0
    waited = 0.0
    while True:
        limiter.acquire()
        status: int | None = None
        retry_after: float | None = None
        try:
            with client.stream(
                "GET", url, params=params, headers=headers, timeout=settings.http_timeout_s,
                follow_redirects=True,
            ) as response:
                status = response.status_code
                if response.is_success:
                    body = _read_bounded(response, source, safe_url, settings.max_response_bytes)
                    return Fetched(
                        status_code=status,
                        body=body,
                        url=redact_url(response.url, secrets),
                        params=safe_params,
                        headers=response.headers,
                    )
                detail = _error_detail(_read_prefix(response), describe_error, secret_values)
                if not (status in RETRY_STATUSES or status >= 500):
                    raise SourceError(source, safe_url, status, detail)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except httpx.TransportError as exc:  # timeouts, connection and protocol errors
            status, detail = None, _scrub(f"{type(exc).__name__}: {exc}".rstrip(": "), secret_values)
        except httpx.RequestError as exc:  # undecodable body, redirect loop: not transient
            raise SourceError(
                source, safe_url, status, _scrub(f"{type(exc).__name__}: {exc}", secret_values)
            ) from exc
        if attempt == attempts - 1:
            raise SourceError(
                source, safe_url, status, f"gave up after {attempts} attempts: {detail}"
            )
        if retry_after is not None:
            delay = retry_after
        else:
            delay = rng() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
        if waited + delay > settings.http_max_retry_wait_s:
            asked = f"server asks to retry after {delay:.0f} s" if retry_after is not None else (
                f"next retry in {delay:.0f} s")
            raise SourceError(
                source, safe_url, status,
                f"{asked}, after {waited:.0f} s of retry waits: more than the "
                f"{settings.http_max_retry_wait_s:.0f} s allowed (KI_HTTP_MAX_RETRY_WAIT_S): {detail}",
            )
        if retry_after is not None:
            limiter.pause(delay)
        waited += delay
        log.warning(
            "%s: %s for %s, retry %d/%d in %.1f s",
            source, f"HTTP {status}" if status else detail, safe_url,
            attempt + 1, attempts - 1, delay,
        )
        limiter.sleep(delay)
        attempt += 1


def _read_bounded(response: httpx.Response, source: str, url: str, limit: int) -> bytes:
    """The (decoded) body, refusing anything larger than ``limit`` bytes before reading it all."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise SourceError(
            source, url, response.status_code,
            f"response declares {declared} bytes, above the {limit}-byte bound "
            "(KI_MAX_RESPONSE_BYTES)",
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise SourceError(
                source, url, response.status_code,
                f"response exceeds the {limit}-byte bound (KI_MAX_RESPONSE_BYTES); "
                f"stopped after {size} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _read_prefix(response: httpx.Response) -> bytes:
    """At most ERROR_BODY_BYTES of an error body: enough to explain it, never all of it."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= ERROR_BODY_BYTES:
            break
    return b"".join(chunks)[:ERROR_BODY_BYTES]


def _error_detail(
    body: bytes,
    describe_error: Callable[[bytes], str | None] | None,
    secret_values: list[str],
) -> str:
    """A short, secret-free explanation of an error body."""
    text = describe_error(body) if describe_error else None
    if not text:
        text = " ".join(body.decode("utf-8", "replace").split()) or "(empty body)"
    return _scrub(text, secret_values)[:EXCERPT_CHARS]


def _scrub(text: str, secret_values: list[str]) -> str:
    """Mask secret parameter values wherever a server or library echoes them."""
    for value in secret_values:
        text = text.replace(value, "***")
    return text
