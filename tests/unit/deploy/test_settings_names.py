"""Every environment/settings name the chart, its README, its values and prefect.yaml set
or mention is read by something: tasks/settings.py, the dbt profile, the code's own
os.environ reads, the chart's hook script, or a library that documents the name. A name
nobody reads (such as a former KI_WAREHOUSE_URL) fails here, naming where it was found.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from k8s_checks import CHART, REPO, load_docs, pod_specs
from prefect.settings import Settings as PrefectSettings
from prefect.settings.legacy import _get_valid_setting_names
from prefect_kubernetes.settings import KubernetesSettings

from tasks.settings import Settings

VARIANTS = sorted((CHART / "ci").glob("*.yaml"))
ENV_NAME = re.compile(r"^(?:[A-Z][A-Z0-9]*_[A-Z0-9_]+|PG[A-Z]+)$")

# Names documented by the libraries that read them (the code passes no value of its own).
LIBRARY_NAMES = {
    # libpq (psycopg.connect("") and dbt-postgres): postgresql.org/docs/current/libpq-envars.html
    "libpq": {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE",
              "PGSERVICE", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGAPPNAME",
              "PGCONNECT_TIMEOUT", "PGOPTIONS", "PGTARGETSESSIONATTRS"},
    # botocore / s3fs: docs.aws.amazon.com/sdkref/latest/guide/settings-reference.html
    "botocore": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                 "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CA_BUNDLE"},
    # google-auth (gcsfs): Application Default Credentials
    "google-auth": {"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"},
    # Spark's launcher scripts read the configuration folder from it
    "spark": {"SPARK_CONF_DIR"},
    # huggingface_hub
    "huggingface_hub": {"HF_HUB_OFFLINE", "HF_HOME"},
}


def _settings_names() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names |= set(getattr(alias, "choices", None) or ([alias] if alias else []))
    return {n for n in names if isinstance(n, str)}


def readers() -> dict[str, set[str]]:
    """name -> who reads it."""
    found: dict[str, set[str]] = defaultdict(set)

    def add(names, reader: str) -> None:
        for name in names:
            found[name].add(reader)

    for lib, names in LIBRARY_NAMES.items():
        add(names, lib)
    # Prefect's and prefect-kubernetes' own settings (what `prefect config view` knows).
    add(_get_valid_setting_names(PrefectSettings), "prefect")
    add(_get_valid_setting_names(KubernetesSettings), "prefect-kubernetes")
    for path in sorted((REPO / "dbt").glob("*.yml")):
        add(re.findall(r"env_var\(\s*'([A-Z0-9_]+)'", path.read_text()),
                               f"dbt/{path.name}")
    code = [*(REPO / "tasks").rglob("*.py"), *(REPO / "flows").rglob("*.py"), *(CHART / "files").glob("*.py")]
    for path in code:
        for name in re.findall(r"""(?:os\.environ(?:\.get)?\s*[\[(]|getenv\()\s*["']([A-Z0-9_]+)["']""",
                               path.read_text()):
            found[name].add(str(path.relative_to(REPO)))
    # spark-defaults.conf reads flow-run env through ${env:NAME}.
    add(re.findall(r"\$\{env:([A-Z0-9_]+)\}", (CHART / "templates" / "spark.yaml").read_text()),
                           "spark-defaults.conf")
    # Docker build arguments the chart README documents.
    add(re.findall(r"^ARG\s+([A-Z0-9_]+)", (REPO / "Dockerfile").read_text(), re.M),
                           "Dockerfile ARG")
    add(_settings_names(), "tasks/settings.py")
    return dict(found)


def _container_env(c: dict) -> list[str]:
    env = c.get("env")
    return [e["name"] for e in env] if isinstance(env, list) else []


def set_names(helm, variants: list[Path] = VARIANTS) -> dict[str, set[str]]:
    """name -> where the chart (rendered with each variant), its docs or prefect.yaml set or mention it."""
    where: dict[str, set[str]] = defaultdict(set)
    for variant in variants:
        proc = helm("template", "ki", str(CHART), "-f", str(variant))
        assert proc.returncode == 0, proc.stderr
        for doc in load_docs(proc.stdout):
            name = doc["metadata"]["name"]
            for at, pod in pod_specs(doc):
                for c in pod.get("initContainers", []) + pod["containers"]:
                    for env in _container_env(c):
                        where[env].add(f"{variant.name}: {at}/{c['name']}")
            if doc["kind"] == "ConfigMap" and name.endswith("-settings"):
                for env in doc["data"]:
                    where[env].add(f"{variant.name}: ConfigMap/{name}")
            if doc["kind"] == "ConfigMap" and name.endswith("-job-templates"):
                for key, text in doc["data"].items():
                    pod = json.loads(text)["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
                    for env in _container_env(pod["containers"][0]):
                        where[env].add(f"{variant.name}: {key}")
    for path in (CHART / "values.yaml", CHART / "README.md", *VARIANTS):
        text = path.read_text()
        tokens = re.findall(r"`([A-Z][A-Z0-9_]+)`", text) if path.suffix == ".md" else re.findall(r"\b[A-Z][A-Z0-9_]+\b", text)
        for token in tokens:
            if ENV_NAME.match(token):
                where[token].add(str(path.relative_to(REPO)))
    prefect_yaml = yaml.safe_load((REPO / "prefect.yaml").read_text())
    for deployment in prefect_yaml["deployments"]:
        for env in ((deployment.get("work_pool") or {}).get("job_variables") or {}).get("env") or {}:
            where[env].add(f"prefect.yaml: {deployment['name']}")
    return where


def unread(where: dict[str, set[str]]) -> dict[str, list[str]]:
    known = readers()
    return {name: sorted(places) for name, places in where.items() if name not in known}


def test_every_name_the_chart_sets_is_read(helm):
    found = unread(set_names(helm))
    assert not found, "names nobody reads:\n" + "\n".join(f"  {n}: {p}" for n, p in sorted(found.items()))


def test_the_check_sees_what_it_must():
    """The readers' side holds the names it is meant to (settings aliases, libpq, Prefect),
    and a name no reader knows is not among them."""
    known = readers()
    for name, reader in [("KI_LAKE_URL", "tasks/settings.py"), ("KI_WAREHOUSE", "tasks/settings.py"),
                         ("KI_DUCKDB_PATH", "tasks/settings.py"), ("PGPASSWORD", "libpq"),
                         ("PREFECT_API_URL", "prefect"), ("KI_POOLS", "helm/knowledge-ingest/files/register_deployments.py"),
                         ("PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES", "prefect-kubernetes")]:
        assert reader in known.get(name, set()), name
    assert "KI_WAREHOUSE_URL" not in known


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"settings": {"extraEnv": {"KI_LAKE_PATH": "/x"}}}, "ConfigMap/ki-knowledge-ingest-settings"),
        ({"credentials": {"extraSecretEnv": [{"name": "KI_WAREHOUSE_URL", "secretName": "w", "key": "url"}]}},
         "base-job-template-cpu.json"),
    ],
    ids=["extraEnv", "extraSecretEnv"],
)
def test_an_unread_name_is_caught(helm, tmp_path, values, where):
    """The same collection over a values file that sets a name nobody reads reports it."""
    variant = tmp_path / "unread.yaml"
    variant.write_text(yaml.safe_dump(yaml.safe_load((CHART / "ci" / "default-values.yaml").read_text()) | values))
    (name,) = unread(set_names(helm, [variant]))
    assert name in {"KI_LAKE_PATH", "KI_WAREHOUSE_URL"}
    assert any(where in place for place in unread(set_names(helm, [variant]))[name])
