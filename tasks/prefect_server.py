"""A local ``prefect server start`` for commands that need an API when none is configured.

Prefect's ephemeral in-process server gives up after a fixed startup wait on a busy
machine and prints shutdown tracebacks at exit. A real server process, waited for as
long as ``KI_PREFECT_STARTUP_TIMEOUT_S`` allows and stopped only after the flows' process
has exited (so every event and log was flushed), has neither problem; its SQLite
database stays in ``<data_dir>/prefect``, so the runs remain browsable afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tasks.local_process import free_port, spawn, stop


def server_env(home: Path) -> dict[str, str]:
    """The environment of the server: its own PREFECT_HOME, no analytics, no API URL of ours."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@contextmanager
def local_prefect_server(home: Path, *, timeout_s: float) -> Iterator[str]:
    """Start the server on a free port, yield its API URL once healthy, stop it afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = home / "server.log"
    prefect = Path(sys.executable).with_name("prefect")
    proc = spawn([str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                 log, env=server_env(home))
    try:
        _wait_healthy(api, proc, log, timeout_s)
        yield api
    finally:
        stop(proc, timeout=30)


def _wait_healthy(api: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{api}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(
        f"prefect server did not answer {api}/health within {timeout_s:.0f}s (see {log}); "
        "raise KI_PREFECT_STARTUP_TIMEOUT_S on a busy machine"
    )


def run_with_local_server(argv: list[str], home: Path, *, timeout_s: float) -> int:
    """Run ``python argv`` in a child process against a local server started for it.

    The child, not this process, runs the flows, so the server is stopped only after the
    flows' process has exited and flushed every event and log (no shutdown tracebacks).
    """
    sys.stderr.write(f"starting a local Prefect server (PREFECT_HOME={home}) …\n")
    with local_prefect_server(home, timeout_s=timeout_s) as api:
        code = subprocess.run([sys.executable, *argv], env=os.environ | {"PREFECT_API_URL": api}).returncode
    sys.stderr.write(f"the runs are in {home}; browse them with `PREFECT_HOME={home} prefect server start`\n")
    return code
