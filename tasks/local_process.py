"""What every locally started server needs: a free port, death with its owner, a clean stop.

Used by the local Prefect server, FalkorDB (Bolt) and Tansu (Kafka) helpers that stand in for
the cluster's services on a laptop, in the demo and in the tests.
"""

from __future__ import annotations

import ctypes
import random
import signal
import socket
import subprocess
import sys


def free_port(low: int = 20000, high: int = 32767) -> int:
    """A free 127.0.0.1 port below 32768 (FalkorDB silently skips its Bolt listener on higher ones)."""
    for port in random.sample(range(low, high + 1), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(cmd: list[str], log_path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server in its own session, output to ``log_path``; on Linux it gets SIGTERM when
    the process that started it dies, even by a kill, so no server outlives a crashed owner."""
    with open(log_path, "wb") as out:
        return subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
