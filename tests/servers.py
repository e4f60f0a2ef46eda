"""Start and stop the real servers the integration tests talk to (no Docker needed)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


@contextmanager
def background(cmd: list[str], *, env: dict, log: Path, health_url: str, timeout: float = 90):
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(health_url, timeout, proc, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """Environment for a Prefect server/CLI/worker with its own PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


@contextmanager
def prefect_server(home: Path):
    """A real ``prefect server start`` on a free port; yields its API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with background(cmd, env=prefect_env(home), log=home / "server.log", health_url=f"{api}/health", timeout=120):
        yield api


@contextmanager
def moto_server(workdir: Path):
    """A local S3 API (moto server); yields its endpoint URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [shutil.which("moto_server", path=str(BIN)) or str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with background(cmd, env=dict(os.environ), log=workdir / "moto.log", health_url=f"{url}/moto-api/"):
        yield url


def prefect_cli(*args: str, env: dict, timeout: float = 300) -> str:
    proc = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def local_prefect_yaml(dest: Path, pool: str) -> Path:
    """prefect.yaml with only the pool (and the pull step's directory) swapped for this machine.

    A process pool stands in for the Kubernetes pools, so there is no image to build or push.
    """
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    config["pull"] = [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
    for step in ("build", "push"):
        config.pop(step, None)
    for deployment in config["deployments"]:
        deployment["work_pool"] = {"name": pool}
    dest.write_text(yaml.safe_dump(config, sort_keys=False))
    return dest
