"""SYNTHETIC multi-page OpenAlex traffic for paging, crash and hostile-input tests.

Works are copies of the real recorded work (tasks/literature/sources/recordings/openalex) with new
ids, DOIs and titles, served as a cursor chain like the live ``/works`` API.
"""

from __future__ import annotations

import copy

import httpx
import orjson

from tasks.literature.sources.replay import RECORDINGS

REAL_WORK = RECORDINGS / "openalex" / "W2741809807.json"


def synthetic_works(count: int, start: int = 0) -> list[dict]:
    real = orjson.loads(REAL_WORK.read_bytes())
    works = []
    for i in range(start, start + count):
        work = copy.deepcopy(real)
        work["id"] = f"https://openalex.org/W{8_000_000_000 + i}"
        work["doi"] = f"https://doi.org/10.5555/synthetic.{i}"
        work["display_name"] = work["title"] = f"Synthetic work {i}"
        works.append(work)
    return works


def page_body(works: list[dict], next_cursor: str | None) -> bytes:
    meta = {"count": len(works), "per_page": 100, "next_cursor": next_cursor}
    return orjson.dumps({"meta": meta, "results": works})


def cursor_chain(pages: list[bytes], on_request=None) -> httpx.MockTransport:
    """Serve ``pages`` for cursors ``*``, ``c1``, ``c2`` …; ``on_request(index)`` runs first.

    Each body in ``pages`` must carry its own ``next_cursor`` (see ``chain_bodies``).
    """

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        index = 0 if cursor == "*" else int(cursor[1:])
        if on_request:
            on_request(index)
        return httpx.Response(200, content=pages[index], headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


def chain_bodies(page_count: int, per_page: int) -> list[bytes]:
    return [
        page_body(
            synthetic_works(per_page, start=n * per_page),
            f"c{n + 1}" if n + 1 < page_count else None,
        )
        for n in range(page_count)
    ]
