"""The Helm chart renders, lints and yields manifests a cluster would accept.

No cluster exists here: manifests are validated offline against the Kubernetes 1.35
schemas (kubernetes-validate, strict) and custom resources against the fields KubeRay
and Spark read. Scheduling itself is not exercised.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml
from k8s_checks import (
    CHART,
    CREDENTIAL_ENV,
    NAMESPACE,
    RELEASE,
    REPO,
    container_problems,
    env_problems,
    load_docs,
    pod_specs,
    raycluster_problems,
    role_problems,
    spark_problems,
    validate_k8s,
)

VARIANTS = sorted(p.name for p in (CHART / "ci").glob("*.yaml"))
FULLNAME = f"{RELEASE}-knowledge-ingest"
# What an install cannot do without (the chart has no default lake, and the default DuckDB
# warehouse needs the lake volume): added to the attempts below so that they are refused
# for their own reason, not for want of durable state.
LAKE = ("--set-string", "lake.url=s3://knowledge-lake/test", "--set", "lake.persistence.enabled=true")


def values_args(variant: str) -> tuple[str, ...]:
    return ("-f", str(CHART / "ci" / variant))


@pytest.fixture(params=VARIANTS)
def variant(request) -> str:
    return request.param


@pytest.fixture
def docs(render, variant) -> list[dict]:
    return load_docs(render(*values_args(variant)))


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def test_ci_variants_exist():
    assert {"default-values.yaml", "with-server-values.yaml", "with-ray-values.yaml",
            "with-spark-values.yaml", "all-values.yaml"} <= set(VARIANTS)


def test_lint(helm, variant):
    proc = helm("lint", "--strict", str(CHART), *values_args(variant))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manifests_validate(docs):
    problems = []
    for doc in docs:
        # RayCluster is the only custom resource; kubernetes-validate knows no CRDs.
        problems += raycluster_problems(doc) if doc["kind"] == "RayCluster" else validate_k8s(doc)
        assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]
    assert not problems, "\n".join(problems)


def test_pods_are_hardened(docs):
    problems = []
    for doc in docs:
        for where, pod in pod_specs(doc):
            problems += container_problems(where, pod)
            for c in pod["containers"]:
                problems += env_problems(f"{where}/{c['name']}", c.get("env"))
                mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
                if "/tmp" not in mounts:
                    problems.append(f"{where}/{c['name']}: no writable /tmp")
    assert not problems, "\n".join(problems)


def test_rbac_is_namespaced_and_minimal(docs):
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    problems = [p for role in by_kind(docs, "Role") for p in role_problems(role)]
    assert not problems, "\n".join(problems)
    (worker,) = [r for r in by_kind(docs, "Role") if r["metadata"]["name"] == f"{FULLNAME}-worker"]
    resources = {res for rule in worker["rules"] for res in rule["resources"]}
    assert resources == {"jobs", "pods", "pods/log", "events"}


def test_service_account_tokens_only_where_needed(docs):
    needs_token = {f"{FULLNAME}-worker", f"{FULLNAME}-spark-driver"}
    accounts = {sa["metadata"]["name"]: sa for sa in by_kind(docs, "ServiceAccount")}
    for name, sa in accounts.items():
        assert sa["automountServiceAccountToken"] is (name in needs_token), name
    for doc in docs:
        for where, pod in pod_specs(doc):
            if where.endswith("/head"):
                continue  # KubeRay's own service account: its autoscaler calls the API
            sa = pod.get("serviceAccountName")
            assert sa in accounts, f"{where} uses undeclared service account {sa}"
            assert pod.get("automountServiceAccountToken") is (sa in needs_token), where


def test_worker_deployments(docs):
    workers = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")
               if "-worker-" in d["metadata"]["name"]}
    assert set(workers) == {f"{FULLNAME}-worker-cpu", f"{FULLNAME}-worker-gpu"}
    for flavour in ("cpu", "gpu"):
        (c,) = workers[f"{FULLNAME}-worker-{flavour}"]["spec"]["template"]["spec"]["containers"]
        args = c["args"]
        assert args[:3] == ["prefect", "worker", "start"]
        assert args[args.index("--type") + 1] == "kubernetes"
        assert args[args.index("--pool") + 1] == f"knowledge-ingest-{flavour}"
        assert args[args.index("--base-job-template") + 1].endswith(f"-{flavour}.json")
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"] == NAMESPACE


def test_hooks(docs):
    jobs = {d["metadata"]["name"]: d for d in by_kind(docs, "Job")}
    deploy, automations = jobs[f"{FULLNAME}-register-deployments"], jobs[f"{FULLNAME}-register-automations"]
    for job in (deploy, automations):
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert int(deploy["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        automations["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    (c,) = automations["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["python", "-m", "flows.automations", "apply"]
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    pools = json.loads({e["name"]: e.get("value") for e in c["env"]}["KI_POOLS"])
    assert [p["name"] for p in pools] == ["knowledge-ingest-cpu", "knowledge-ingest-gpu"]
    assert pools[1]["image"].endswith(":0.1.0-gpu")


def test_raycluster(render):
    docs = load_docs(render("-f", str(CHART / "ci" / "with-ray-values.yaml")))
    (ray,) = by_kind(docs, "RayCluster")
    assert ray["spec"]["enableInTreeAutoscaling"] is True
    (gpu,) = ray["spec"]["workerGroupSpecs"]
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    settings = next(d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-settings")
    assert settings["data"]["RAY_ADDRESS"] == (
        f"ray://{FULLNAME}-ray-head-svc.{NAMESPACE}.svc:10001"
    )


def test_static_raycluster_manifest():
    docs = load_docs((REPO / "k8s" / "raycluster.yaml").read_text())
    problems = []
    for doc in docs:
        doc["metadata"]["namespace"] = NAMESPACE
        problems += raycluster_problems(doc) if doc["kind"] == "RayCluster" else validate_k8s(doc)
        for where, pod in pod_specs(doc):
            problems += container_problems(where, pod)
    assert not problems, "\n".join(problems)


def _spark_problems(docs: list[dict], conf: str, pod_template: str) -> list[str]:
    return spark_problems(
        conf,
        pod_template,
        {sa["metadata"]["name"]: sa for sa in by_kind(docs, "ServiceAccount")},
        by_kind(docs, "Role"),
        by_kind(docs, "RoleBinding"),
    )


def test_spark_in_chart(render):
    docs = load_docs(render("-f", str(CHART / "ci" / "with-spark-values.yaml")))
    spark = next(d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-spark")
    problems = _spark_problems(
        docs, spark["data"]["spark-defaults.conf"], spark["data"]["executor-pod-template.yaml"]
    )
    assert not problems, "\n".join(problems)
    # Flow-run pods see the configuration where spark-defaults.conf points.
    templates = next(d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-job-templates")
    cpu = json.loads(templates["data"]["base-job-template-cpu.json"])
    (c,) = cpu["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "spark-conf", "mountPath": "/etc/knowledge-ingest/spark",
            "readOnly": True} in c["volumeMounts"]
    assert "/etc/knowledge-ingest/spark/executor-pod-template.yaml" in spark["data"]["spark-defaults.conf"]


def test_static_spark_manifests():
    spark = REPO / "k8s" / "spark"
    docs = load_docs((spark / "rbac.yaml").read_text())
    for doc in docs:
        doc["metadata"]["namespace"] = NAMESPACE
        assert not validate_k8s(doc)
    problems = _spark_problems(
        docs,
        (spark / "spark-defaults.conf").read_text(),
        (spark / "executor-pod-template.yaml").read_text(),
    )
    assert not problems, "\n".join(problems)


# --- durable state -------------------------------------------------------------

SCHEMA_ERROR = "values don't meet the specifications of the schema"


def test_chart_defaults_plus_a_lake_render(render):
    """The attempts below differ from a valid install only in what they test."""
    assert load_docs(render(*LAKE, "--set-string", "prefect.apiUrl=https://prefect.example/api"))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("", ["at '/lake/url': '' does not match pattern '^s3://",
              "at '/lake/persistence/enabled': value must be true"]),
        ("lake: {url: file:///data/lake}",
         ["at '/lake/url': 'file:///data/lake' does not match pattern '^(s3|gs)://'",
          "at '/lake/persistence/enabled': value must be true",
          "at '/lake/persistence/existingClaim': minLength: got 0, want 1"]),
        ("lake: {url: /data/lake, persistence: {enabled: true}}",
         ["at '/lake/url': '/data/lake' does not match pattern '^file:///"]),
        ("lake: {url: 'http://minio:9000/lake'}",
         ["at '/lake/url': 'http://minio:9000/lake' does not match pattern '^s3://"]),
        ("lake: {url: file:///tmp/lake, persistence: {enabled: true}}",
         ["at '/lake/url': 'file:///tmp/lake' does not match pattern"]),
        ("lake: {url: s3://knowledge-lake/x, persistence: {size: lots}}",
         ["at '/lake/persistence/size'"]),
    ],
    ids=["no-lake", "file-without-volume", "bare-path", "http-url", "file-on-tmp", "bad-size"],
)
def test_install_without_a_durable_lake_is_refused(helm, tmp_path, values, expected):
    """What `helm install` prints when the values name no durable lake."""
    path = tmp_path / "values.yaml"
    path.write_text(values + "\n")
    proc = helm("template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(path))
    assert proc.returncode != 0 and not proc.stdout
    assert SCHEMA_ERROR in proc.stderr
    for line in expected:
        assert line in proc.stderr, proc.stderr


def _pod_of_job_template(docs: list[dict], flavour: str) -> dict:
    templates = next(d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-job-templates")
    manifest = json.loads(templates["data"][f"base-job-template-{flavour}.json"])["job_configuration"]["job_manifest"]
    return manifest["spec"]["template"]["spec"]


def test_lake_volume(docs, variant):
    """The lake volume, when there is one, is mounted in every flow-run pod: at a file://
    lake's path (where KI_LAKE_URL points), else at /var/lib/knowledge-ingest."""
    values = yaml.safe_load((CHART / "ci" / variant).read_text())
    lake = values["lake"]
    persistence = lake.get("persistence", {})
    claim = persistence.get("existingClaim") or (f"{FULLNAME}-lake" if persistence.get("enabled") else "")
    settings = next(d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-settings")
    assert settings["data"]["KI_LAKE_URL"] == lake["url"]
    pvcs = by_kind(docs, "PersistentVolumeClaim")
    if persistence.get("enabled") and not persistence.get("existingClaim"):
        (pvc,) = pvcs
        assert pvc["metadata"]["name"] == claim
        assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"
        assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    else:
        assert not pvcs
    if lake["url"].startswith("file://"):
        assert claim, f"{variant}: a file:// lake without a volume rendered"
    for flavour in ("cpu", "gpu"):
        pod = _pod_of_job_template(docs, flavour)
        volumes = {v["name"]: v for v in pod["volumes"]}
        (c,) = pod["containers"]
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        if not claim:
            assert "lake" not in volumes and "lake" not in mounts
            continue
        assert volumes["lake"] == {"name": "lake", "persistentVolumeClaim": {"claimName": claim}}
        expected = lake["url"].removeprefix("file://") if lake["url"].startswith("file://") else "/var/lib/knowledge-ingest"
        assert mounts["lake"] == {"name": "lake", "mountPath": expected}


def test_lake_volume_options(render):
    docs = load_docs(render(
        *LAKE, "--set-string", "prefect.apiUrl=https://prefect.example/api",
        "--set", "lake.persistence.enabled=true", "--set-string", "lake.persistence.storageClass=efs",
        "--set-string", "lake.persistence.size=2Ti", "--set", "lake.persistence.accessModes={ReadWriteMany}",
    ))
    (pvc,) = by_kind(docs, "PersistentVolumeClaim")
    assert pvc["spec"] == {"accessModes": ["ReadWriteMany"], "storageClassName": "efs",
                           "resources": {"requests": {"storage": "2Ti"}}}
    assert not validate_k8s(pvc)
    (c,) = _pod_of_job_template(docs, "cpu")["containers"]
    assert {"name": "lake", "mountPath": "/var/lib/knowledge-ingest"} in c["volumeMounts"]


def _flow_run_env(docs: list[dict]) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """(settings ConfigMap data, literal env entries of each flavour's job template; the
    template keeps prefect-kubernetes' "{{ env }}" placeholder when the chart adds none)."""
    settings = next(d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-settings")
    env = {}
    for flavour in ("cpu", "gpu"):
        entries = _pod_of_job_template(docs, flavour)["containers"][0]["env"]
        env[flavour] = entries if isinstance(entries, list) else []
    return settings["data"], env


def test_warehouse(docs, variant):
    """Postgres: the libpq variables from values and PGPASSWORD by secretKeyRef only;
    DuckDB: the file on the lake volume, where Settings (read from that env) finds it."""
    from tasks.settings import Settings

    values = yaml.safe_load((CHART / "ci" / variant).read_text())
    warehouse = values.get("warehouse", {})
    data, env = _flow_run_env(docs)
    settings = Settings(_env_file=None, **{k: v for k, v in data.items()})
    assert data["KI_WAREHOUSE"] == warehouse.get("type", "duckdb") == settings.warehouse
    pg_names = {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE", "KI_WAREHOUSE_SCHEMA", "KI_LAKE_SCHEMA"}
    assert "PGPASSWORD" not in data
    if settings.warehouse == "postgres":
        pg = warehouse["postgres"]
        assert {k: data[k] for k in ("PGHOST", "PGUSER")} == {"PGHOST": pg["host"], "PGUSER": pg["user"]}
        assert data["PGPORT"] == str(pg.get("port", 5432))
        assert data["PGDATABASE"] == pg.get("database", "knowledge")
        assert settings.warehouse_schema == pg.get("schema", "analytics")
        assert settings.lake_schema == pg.get("lakeSchema", "lake")
        assert "KI_DUCKDB_PATH" not in data
        ref = {"secretKeyRef": {"name": pg["existingSecret"], "key": pg.get("passwordKey", "password")}}
        for flavour, entries in env.items():
            assert {"name": "PGPASSWORD", "valueFrom": ref} in entries, flavour
    else:
        assert not pg_names & set(data)
        assert all(e["name"] != "PGPASSWORD" for entries in env.values() for e in entries)
        (c,) = _pod_of_job_template(docs, "cpu")["containers"]
        (mount,) = [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "lake"]
        # Beside the lake's own prefixes (raw/, processed/ …), never inside them.
        assert settings.duckdb_file.relative_to(mount).parts == ("_warehouse", "warehouse.duckdb")


def test_lancedb_on_the_lake_volume(docs):
    """Without Weaviate the vector store is LanceDB: on the lake volume when there is one."""
    data, _ = _flow_run_env(docs)
    (c,) = _pod_of_job_template(docs, "cpu")["containers"]
    mounts = [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "lake"]
    if mounts and "WEAVIATE_URL" not in data:
        assert data["KI_LANCEDB_URI"] == f"{mounts[0]}/_lancedb"
    else:
        assert "KI_LANCEDB_URI" not in data


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("lake: {url: s3://knowledge-lake/x}",
         ["at '/warehouse/type': value must be 'postgres'",
          "at '/lake/persistence/enabled': value must be true"]),
        ("lake: {url: s3://knowledge-lake/x}\nwarehouse: {type: postgres}",
         ["at '/warehouse/postgres/host': minLength: got 0, want 1",
          "at '/warehouse/postgres/user': minLength: got 0, want 1",
          "at '/warehouse/postgres/existingSecret': minLength: got 0, want 1"]),
        ("lake: {url: s3://knowledge-lake/x}\nwarehouse: {type: postgres, postgres: "
         "{host: pg, user: ki, existingSecret: pg, password: hunter2}}",
         ["additional properties 'password' not allowed"]),
        ("lake: {url: s3://knowledge-lake/x}\nwarehouse: {type: sqlite}",
         ["at '/warehouse/type'"]),
    ],
    ids=["duckdb-without-volume", "postgres-incomplete", "postgres-literal-password", "unknown-type"],
)
def test_incomplete_warehouse_is_refused(helm, tmp_path, values, expected):
    path = tmp_path / "values.yaml"
    path.write_text(values + "\n")
    proc = helm("template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(path))
    assert proc.returncode != 0 and not proc.stdout
    assert SCHEMA_ERROR in proc.stderr and "hunter2" not in proc.stderr
    for line in expected:
        assert line in proc.stderr, proc.stderr


# --- secrets --------------------------------------------------------------------

CANARY = "CANARY-d0c5e7a1-not-a-real-secret"


def test_no_secret_value_reaches_the_output(helm):
    """Credentials configured everywhere a user can point at one, canaries in the
    environment helm runs in: the canary never appears, credentials are secretKeyRefs."""
    canary_env = {name: CANARY for name in CREDENTIAL_ENV}
    proc = helm(
        "template", RELEASE, str(CHART), "-n", NAMESPACE,
        "-f", str(CHART / "ci" / "all-values.yaml"), env=canary_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert CANARY not in proc.stdout
    docs = load_docs(proc.stdout)
    assert not by_kind(docs, "Secret")
    problems = []
    for doc in docs:
        for where, pod in pod_specs(doc):
            for c in pod["containers"]:
                problems += env_problems(f"{where}/{c['name']}", c.get("env"))
    templates = next(d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-job-templates")
    for key, text in templates["data"].items():
        manifest = json.loads(text)["job_configuration"]["job_manifest"]
        (c,) = manifest["spec"]["template"]["spec"]["containers"]
        problems += env_problems(key, c["env"])
        names = {e["name"] for e in c["env"]}
        assert CREDENTIAL_ENV - {"PREFECT_API_KEY", "PREFECT_API_DATABASE_CONNECTION_URL"} <= names
    settings = next(d for d in docs if d["metadata"]["name"] == f"{FULLNAME}-settings")
    assert not CREDENTIAL_ENV & set(settings["data"])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "attempt",
    [
        ["--set-string", f"credentials.neo4jPassword.value={CANARY}"],
        ["--set-string", f"credentials.neo4jPassword={CANARY}"],
        ["--set-string", f"prefect.apiKeySecret.value={CANARY}"],
        ["--set-string", f"prefect.apiKey={CANARY}"],
        ["--set-string", f"settings.extraEnv.NEO4J_PASSWORD={CANARY}"],
        ["--set-string", f"settings.extraEnv.AWS_SECRET_ACCESS_KEY={CANARY}"],
        ["--set-string", f"server.databaseUrl.value={CANARY}"],
        ["--set-string", f"credentials.extraSecretEnv[0].name=X,credentials.extraSecretEnv[0].value={CANARY}"],
    ],
    ids=lambda a: a[1].split("=")[0],
)
def test_literal_secret_values_are_rejected(helm, attempt):
    """The schema has no place for a secret value: helm refuses and prints no canary."""
    proc = helm("template", RELEASE, str(CHART), "-n", NAMESPACE, *LAKE, *attempt)
    assert proc.returncode != 0
    assert CANARY not in proc.stdout


@pytest.mark.parametrize("setting", ["image.tag=latest", "image.gpuTag=latest", "image.tag=",
                                     "spark.executorImage=apache/spark:latest",
                                     "spark.executorImage=apache/spark"])
def test_unpinned_images_are_rejected(helm, setting):
    proc = helm("template", RELEASE, str(CHART), "-n", NAMESPACE, *LAKE, "--set-string", setting)
    assert proc.returncode != 0, setting
    assert f"at '/{setting.split('=')[0].replace('.', '/')}'" in proc.stderr, proc.stderr


def test_schema_is_strict():
    """Every object in values.schema.json closes its properties (typos fail)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_objects = []

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                if node.get("additionalProperties") is not False:
                    open_objects.append(path)
            for key, child in node.items():
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}/{i}")

    walk(schema, "")
    assert not open_objects
    assert schema["additionalProperties"] is False


def test_every_value_is_documented():
    """Each value in values.yaml has its own `# --` comment (what helm-docs reads). A
    key whose children carry `# --` is a section and each child is checked; a key whose
    children carry none is one value (a map or list default) documented as a whole."""
    root: dict = {"key": "<root>", "indent": -1, "documented": True, "children": []}
    stack = [root]
    comment = False
    for i, line in enumerate((CHART / "values.yaml").read_text().splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            comment = comment or stripped.startswith("# --")
            continue
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        while stack[-1]["indent"] >= indent:
            stack.pop()
        node = {"key": f"{stripped.split(':')[0]} (line {i})", "indent": indent,
                "documented": comment, "children": []}
        comment = False
        stack[-1]["children"].append(node)
        stack.append(node)

    undocumented = []

    def check(node):
        if any(child["documented"] for child in node["children"]):
            for child in node["children"]:
                check(child)
        elif not node["documented"]:
            undocumented.append(node["key"])

    check(root)
    assert not undocumented, "undocumented values: " + ", ".join(undocumented)


def test_chart_job_templates_are_the_generated_ones():
    for flavour in ("cpu", "gpu"):
        name = f"base-job-template-{flavour}.json"
        assert (CHART / "files" / name).read_text() == (REPO / "k8s" / name).read_text()


def _register_module():
    spec = importlib.util.spec_from_file_location(
        "register_deployments", CHART / "files" / "register_deployments.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_registration_hook_rewrites_prefect_yaml():
    """In the cluster the image exists already: build/push go, pool images are pinned."""
    config = {
        "build": [{"step": {}}],
        "push": [{"step": {}}],
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/x"}}],
        "deployments": [
            {"name": "a", "build": None, "work_pool": {"name": "cpu", "job_variables": {"image": "{{ b.image }}", "cpu_request": "1"}}},
            {"name": "b", "work_pool": {"name": "gpu", "job_variables": None}},
            {"name": "c", "work_pool": {"name": "elsewhere"}},
        ],
    }
    out = _register_module().cluster_config(config, {"cpu": "r:1", "gpu": "r:1-gpu"})
    assert "build" not in out and "push" not in out and out["pull"] == config["pull"]
    a, b, c = out["deployments"]
    assert "build" not in a
    assert a["work_pool"]["job_variables"] == {"image": "r:1", "cpu_request": "1"}
    assert b["work_pool"]["job_variables"] == {"image": "r:1-gpu"}
    assert c == {"name": "c", "work_pool": {"name": "elsewhere"}}
    assert config["deployments"][0]["work_pool"]["job_variables"]["image"] == "{{ b.image }}"


def test_registration_hook_reads_the_real_prefect_yaml():
    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    out = _register_module().cluster_config(config, {"knowledge-ingest-cpu": "r:1"})
    assert [d["name"] for d in out["deployments"]] == [d["name"] for d in config["deployments"]]
    assert all(d["work_pool"]["job_variables"]["image"] == "r:1"
               for d in out["deployments"] if d["work_pool"]["name"] == "knowledge-ingest-cpu")
