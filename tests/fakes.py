"""Test doubles shared by the source-client tests (time only: HTTP goes through MockTransport)."""

from tasks.settings import Settings


class FakeClock:
    """Monotonic clock that only moves when something sleeps, so rate limits are exact."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def source_settings(**overrides) -> Settings:
    """Settings independent of the environment: no API keys, a contact e-mail, few retries."""
    values = dict(contact_email="ops@example.org", openalex_api_key=None, ncbi_api_key=None,
                  http_max_retries=1)
    return Settings(**{**values, **overrides})
