"""Regenerate the work-pool base job templates from prefect-kubernetes' own default.

Why generated: the default template (from the pinned prefect-kubernetes) lacks what
our pools need — pod/container securityContext, a writable /tmp on a read-only root
filesystem, node placement, a GPU limit and a finite job TTL. Deriving instead of
copying keeps the templates in step with the worker version in constraints.txt.

Writes k8s/base-job-template-{cpu,gpu}.json and the chart's copies under
helm/knowledge-ingest/files/ (Helm cannot read files outside the chart).

    python k8s/build_job_templates.py           # rewrite the files
    python k8s/build_job_templates.py --check   # exit 1 if any file is stale
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from prefect_kubernetes.worker import KubernetesWorker

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIRS = (ROOT / "k8s", ROOT / "helm" / "knowledge-ingest" / "files")

# uid/gid of the `app` user in the project's Dockerfile.
APP_UID = 10001

POD_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": APP_UID,
    "runAsGroup": APP_UID,
    "fsGroup": APP_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

# Variables we add or whose defaults we change, per pool flavour.
COMMON_VARIABLES: dict[str, dict[str, Any]] = {
    "node_selector": {
        "title": "Node Selector",
        "description": "Node labels the flow-run pod must match (pod spec nodeSelector).",
        "type": "object",
        "additionalProperties": {"type": "string"},
        "default": {},
    },
    "tolerations": {
        "title": "Tolerations",
        "description": "Pod tolerations, in Kubernetes form "
        "({key, operator, value, effect, tolerationSeconds}).",
        "type": "array",
        "items": {"type": "object"},
        "default": [],
    },
    "automount_service_account_token": {
        "title": "Mount Service Account Token",
        "description": "Mount a Kubernetes API token into the flow-run pod. Only flows "
        "that drive the Kubernetes API (Spark drivers) need it.",
        "type": "boolean",
        "default": False,
    },
    "tmp_size_limit": {
        "title": "/tmp Size Limit",
        "description": "Size limit of the emptyDir mounted at /tmp (the root "
        "filesystem is read-only).",
        "type": "string",
        "default": "2Gi",
    },
}
DEFAULTS = {
    "cpu": {
        "finished_job_ttl": 3600,
        "cpu_request": "500m",
        "cpu_limit": "2",
        "memory_request": "1Gi",
        "memory_limit": "4Gi",
    },
    "gpu": {
        "finished_job_ttl": 3600,
        "cpu_request": "2",
        "cpu_limit": "8",
        "memory_request": "8Gi",
        "memory_limit": "16Gi",
        "node_selector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ],
    },
}
GPU_LIMIT_VARIABLE = {
    "title": "GPU Limit",
    "description": "Number of NVIDIA GPUs (nvidia.com/gpu limit) for the flow-run container.",
    "type": "integer",
    "minimum": 1,
    "default": 1,
}


def build(flavour: str) -> dict[str, Any]:
    """Return the base job template for `flavour` ('cpu' or 'gpu')."""
    template = copy.deepcopy(KubernetesWorker.get_default_base_job_template())
    variables = template["variables"]["properties"]
    variables.update(copy.deepcopy(COMMON_VARIABLES))
    if flavour == "gpu":
        variables["gpu_limit"] = copy.deepcopy(GPU_LIMIT_VARIABLE)
    for name, default in DEFAULTS[flavour].items():
        variables[name]["default"] = copy.deepcopy(default)

    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    pod["nodeSelector"] = "{{ node_selector }}"
    pod["tolerations"] = "{{ tolerations }}"
    pod["automountServiceAccountToken"] = "{{ automount_service_account_token }}"
    pod["securityContext"] = copy.deepcopy(POD_SECURITY_CONTEXT)
    pod["volumes"] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "{{ tmp_size_limit }}"}}
    ]
    (container,) = pod["containers"]
    container["securityContext"] = copy.deepcopy(CONTAINER_SECURITY_CONTEXT)
    container["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    if flavour == "gpu":
        container["resources"]["limits"]["nvidia.com/gpu"] = "{{ gpu_limit }}"
    return template


def render(flavour: str) -> str:
    return json.dumps(build(flavour), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if files are stale")
    args = parser.parse_args(argv)
    stale = []
    for flavour in ("cpu", "gpu"):
        text = render(flavour)
        for folder in OUTPUT_DIRS:
            path = folder / f"base-job-template-{flavour}.json"
            if path.exists() and path.read_text() == text:
                continue
            if args.check:
                stale.append(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if stale:
        print("stale (run python k8s/build_job_templates.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
