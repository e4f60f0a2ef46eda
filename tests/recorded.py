"""Read recorded responses (VCR cassettes, JSON files) under tests/fixtures/sources/.

Cassettes are never edited: their bodies are taken out here, as the recorder stored
them (plain text in Python VCR ``content``/``body.string``, base64 for R vcr's
``ASCII-8BIT`` bodies).
"""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import yaml

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"


def cassette(relative: str) -> list[tuple[str, bytes]]:
    """(request URI, response body) of every interaction of a cassette, in order."""
    doc = yaml.safe_load((FIXTURES / relative).read_text())
    out = []
    for interaction in doc.get("interactions") or doc["http_interactions"]:
        response = interaction["response"]
        if "content" in response:
            body = response["content"].encode()
        else:
            stored = response["body"]
            body = (base64.b64decode(stored["string"]) if stored.get("encoding") == "ASCII-8BIT"
                    else stored["string"].encode())
        out.append((interaction["request"]["uri"], body))
    return out


def recorded(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def serve(route, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """A MockTransport answering ``route(request) -> (status, body[, headers])``, recording requests."""
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        status, body, *headers = route(request)
        return httpx.Response(status, content=body, headers=(headers[0] if headers else None)
                              or {"Content-Type": "application/json"})
    return httpx.MockTransport(handler)
