"""Work-pool base job templates merged with deployment job variables by
prefect-kubernetes' own code give the Job manifests we intend.

`from_template_and_values` + `prepare_for_flow_run` is what the worker runs for each
flow run before it submits the Job, so the manifest asserted here is the one a
cluster would receive.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from typing import Any
from uuid import uuid4

import pytest
import yaml
from k8s_checks import CHART, NAMESPACE, REPO, container_problems, load_docs, validate_k8s
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.utilities.schema_tools.validation import validate as validate_job_variables
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

GPU_IMAGE = "ghcr.io/knowledge-ingest/knowledge-ingest:0.1.0-gpu"
CPU_IMAGE = "ghcr.io/knowledge-ingest/knowledge-ingest:0.1.0"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

# job_variables the embed-documents deployment gets (see helm/knowledge-ingest/README.md).
EMBED_JOB_VARIABLES = {
    "image": GPU_IMAGE,
    "gpu_limit": 1,
    "cpu_request": "4",
    "cpu_limit": "8",
    "memory_request": "16Gi",
    "memory_limit": "32Gi",
    "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A10G"},
    "tolerations": [GPU_TOLERATION],
}
LITERATURE_JOB_VARIABLES = {
    "image": CPU_IMAGE,
    "cpu_request": "500m",
    "memory_request": "1Gi",
    "memory_limit": "2Gi",
}


def template(flavour: str) -> dict[str, Any]:
    return json.loads((REPO / "k8s" / f"base-job-template-{flavour}.json").read_text())


def job_manifest(base_job_template: dict[str, Any], job_variables: dict[str, Any]) -> dict[str, Any]:
    """The Job the worker would submit for a flow run of a deployment with these variables."""
    errors = validate_job_variables(
        job_variables, base_job_template["variables"], raise_on_error=False,
        preprocess=True, ignore_required=True,
    )
    assert not errors, errors  # what the Prefect API checks when the deployment is created

    async def build():
        # An explicit client that is never contacted: the templates hold no block or
        # variable references, and an implicit one would start a temporary server.
        client = PrefectClient(api="http://127.0.0.1:9/api")
        return await KubernetesWorkerJobConfiguration.from_template_and_values(
            copy.deepcopy(base_job_template), job_variables, client=client
        )

    config = asyncio.run(build())
    config.prepare_for_flow_run(FlowRun(flow_id=uuid4(), name="brave-otter"))
    return config.job_manifest


def schema_problems(manifest: dict[str, Any]) -> list[str]:
    """Kubernetes schema check of the Job. prefect-kubernetes requires `parallelism` and
    `completions` in the pod spec (its validator insists on them there) although they are
    Job fields; the API server drops them with a warning, so they are removed here."""
    manifest = copy.deepcopy(manifest)
    pod = manifest["spec"]["template"]["spec"]
    assert pod.pop("parallelism") == 1 and pod.pop("completions") == 1
    manifest["metadata"]["name"] = manifest["metadata"].pop("generateName") + "x"
    return validate_k8s(manifest)


def pod_of(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]


def test_templates_match_prefect_kubernetes_default():
    """Committed templates are exactly what the generator derives from the installed
    prefect-kubernetes (regenerate with `python k8s/build_job_templates.py`)."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "k8s" / "build_job_templates.py"), "--check"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("flavour", ["cpu", "gpu"])
def test_defaults_give_a_hardened_valid_job(flavour):
    manifest = job_manifest(template(flavour), {"image": CPU_IMAGE})
    assert not schema_problems(manifest)
    pod = pod_of(manifest)
    assert not container_problems("job", pod)
    assert pod["automountServiceAccountToken"] is False
    assert manifest["spec"]["ttlSecondsAfterFinished"] == 3600
    assert manifest["spec"]["backoffLimit"] == 0
    (c,) = pod["containers"]
    assert c["args"] == ["prefect", "flow-run", "execute"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    if flavour == "cpu":
        assert "nvidia.com/gpu" not in c["resources"]["limits"]
        assert pod["nodeSelector"] == {} and pod["tolerations"] == []
    else:
        assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert pod["tolerations"] == [GPU_TOLERATION]
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


def test_embed_documents_job_gets_gpu_placement():
    manifest = job_manifest(template("gpu"), EMBED_JOB_VARIABLES)
    assert not schema_problems(manifest)
    pod = pod_of(manifest)
    (c,) = pod["containers"]
    assert c["image"] == GPU_IMAGE
    assert c["resources"] == {
        "limits": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 1},
        "requests": {"cpu": "4", "memory": "16Gi"},
    }
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A10G"}
    assert pod["tolerations"] == [GPU_TOLERATION]
    assert not container_problems("embed", pod)


def test_literature_sync_job_on_cpu_pool():
    manifest = job_manifest(
        template("cpu"),
        LITERATURE_JOB_VARIABLES | {"env": {"KI_HTTP_TIMEOUT_S": "60"}, "finished_job_ttl": 600},
    )
    assert not schema_problems(manifest)
    (c,) = pod_of(manifest)["containers"]
    assert c["resources"] == {
        "limits": {"cpu": "2", "memory": "2Gi"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }
    assert {"name": "KI_HTTP_TIMEOUT_S", "value": "60"} in c["env"]
    assert manifest["spec"]["ttlSecondsAfterFinished"] == 600


def test_gpu_limit_below_one_is_refused():
    errors = validate_job_variables(
        {"gpu_limit": 0}, template("gpu")["variables"], raise_on_error=False,
        preprocess=True, ignore_required=True,
    )
    assert errors


def _prefect_yaml_deployments() -> list[dict[str, Any]]:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", _prefect_yaml_deployments(), ids=lambda d: d["name"])
def test_prefect_yaml_deployments_merge(deployment):
    """Every deployment in prefect.yaml yields a valid hardened Job on its pool."""
    pool = deployment["work_pool"]
    flavour = "gpu" if pool["name"].endswith("-gpu") else "cpu"
    variables = {
        k: v for k, v in (pool.get("job_variables") or {}).items()
        if not (isinstance(v, str) and "{{" in v)  # build-step outputs, resolved at deploy time
    }
    manifest = job_manifest(template(flavour), {"image": CPU_IMAGE} | variables)
    assert not schema_problems(manifest)
    assert not container_problems(deployment["name"], pod_of(manifest))
    limits = pod_of(manifest)["containers"][0]["resources"]["limits"]
    assert ("nvidia.com/gpu" in limits) is (flavour == "gpu")


@pytest.fixture(scope="module")
def chart_templates(render) -> dict[str, dict[str, Any]]:
    docs = load_docs(render("-f", str(CHART / "ci" / "all-values.yaml")))
    (cm,) = [d for d in docs if d["metadata"]["name"].endswith("-job-templates")]
    return {k: json.loads(v) for k, v in cm["data"].items()}


@pytest.mark.parametrize("flavour", ["cpu", "gpu"])
def test_chart_templates_merge(chart_templates, flavour):
    """The chart's copies (release defaults, settings ConfigMap, secretKeyRefs) still
    merge: the run's own env comes first, credentials stay references."""
    base = chart_templates[f"base-job-template-{flavour}.json"]
    manifest = job_manifest(base, {"env": {"KI_HTTP_TIMEOUT_S": "60"}})
    assert not schema_problems(manifest)
    assert manifest["metadata"]["namespace"] == NAMESPACE
    pod = pod_of(manifest)
    assert pod["serviceAccountName"] == "ki-knowledge-ingest-flow-run"
    assert pod["imagePullSecrets"] == [{"name": "registry-pull"}]
    (c,) = pod["containers"]
    tag = "0.1.0-gpu" if flavour == "gpu" else "0.1.0"
    assert c["image"] == f"registry.example.internal/data/knowledge-ingest:{tag}"
    assert c["envFrom"] == [{"configMapRef": {"name": "ki-knowledge-ingest-settings"}}]
    names = [e["name"] for e in c["env"]]
    assert names.index("KI_HTTP_TIMEOUT_S") < names.index("NEO4J_PASSWORD")
    neo4j = next(e for e in c["env"] if e["name"] == "NEO4J_PASSWORD")
    assert neo4j == {"name": "NEO4J_PASSWORD",
                     "valueFrom": {"secretKeyRef": {"name": "neo4j-auth", "key": "password"}}}
    assert not container_problems("chart", pod)


def test_chart_lake_volume_survives_the_merge(render):
    """A file:// lake's volume is in the Job the worker submits, at the lake's path."""
    docs = load_docs(render("-f", str(CHART / "ci" / "default-values.yaml")))
    (cm,) = [d for d in docs if d["metadata"]["name"].endswith("-job-templates")]
    for key, text in cm["data"].items():
        manifest = job_manifest(json.loads(text), {"env": {"KI_HTTP_TIMEOUT_S": "60"}})
        assert not schema_problems(manifest), key
        pod = pod_of(manifest)
        assert {"name": "lake", "persistentVolumeClaim": {"claimName": "ki-knowledge-ingest-lake"}} in pod["volumes"]
        (c,) = pod["containers"]
        assert {"name": "lake", "mountPath": "/var/lib/knowledge-ingest/lake"} in c["volumeMounts"]
        assert not container_problems(key, pod)
