"""Run literature-sync for OpenAlex over a synthetic cursor chain, in its own process.

With ``KILL_AT_PAGE=n`` the process SIGKILLs itself when page n is requested,
i.e. after pages 0..n-1 were landed: a real crash, not a raised exception.
Every requested page index is appended to ``REQUEST_LOG``.
"""

import os
import signal
from datetime import date

import tasks.literature.tasks
from flows.literature_sync import literature_sync
from tests.openalex_pages import chain_bodies, cursor_chain

PAGES, PER_PAGE = 6, 25


def on_request(index: int) -> None:
    with open(os.environ["REQUEST_LOG"], "a") as log:
        log.write(f"{index}\n")
    if index == int(os.environ.get("KILL_AT_PAGE", "-1")):
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    bodies = chain_bodies(PAGES, PER_PAGE)
    tasks.literature.tasks.replay_transport = lambda _dir: cursor_chain(bodies, on_request)
    literature_sync(source="openalex", since=date(2024, 1, 1), until=date(2024, 1, 2), replay_dir="synthetic")
