"""Chart hook: register the work pools and every deployment of the image's prefect.yaml.

Pools are created or overwritten first, so an upgrade applies new base job templates
(a worker only uses --base-job-template when it creates a missing pool). The hook runs
inside the flow image, which therefore already exists: prefect.yaml's build/push steps
are dropped, and each deployment of a chart-managed pool gets that pool's image.

Environment: KI_POOLS (JSON list of {name, template, image}), KI_PREFECT_FILE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def cluster_config(config: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    """prefect.yaml without build/push steps, with each managed pool's image set."""
    config = dict(config)
    config.pop("build", None)
    config.pop("push", None)
    deployments = []
    for deployment in config.get("deployments") or []:
        deployment = {k: v for k, v in deployment.items() if k not in ("build", "push")}
        pool = dict(deployment.get("work_pool") or {})
        if pool.get("name") in images:
            pool["job_variables"] = {
                **(pool.get("job_variables") or {}),
                "image": images[pool["name"]],
            }
            deployment["work_pool"] = pool
        deployments.append(deployment)
    config["deployments"] = deployments
    return config


def run(*args: str) -> None:
    print("+", *args, flush=True)
    subprocess.run(args, check=True)


def main() -> int:
    pools = json.loads(os.environ["KI_POOLS"])
    for pool in pools:
        run("prefect", "work-pool", "create", pool["name"], "--type", "kubernetes",
            "--base-job-template", pool["template"], "--overwrite")
    source = Path(os.environ["KI_PREFECT_FILE"])
    config = cluster_config(yaml.safe_load(source.read_text()),
                            {p["name"]: p["image"] for p in pools})
    target = Path(os.environ.get("TMPDIR", "/tmp")) / "prefect.cluster.yaml"
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    os.chdir(source.parent)  # entrypoints in prefect.yaml are relative to its folder
    run("prefect", "deploy", "--all", "--no-prompt", "--prefect-file", str(target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
