"""elt-ingest started the three ways a user relies on, on a real ``prefect server start`` with
the deployments of prefect.yaml, the declared automations and a worker, over an s3:// lake
(moto): an S3 notification posted to /api/events, the every-minute polling deployment, and two
concurrent runs over the same files."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import boto3
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.automations import DECLARED, ELT_ON_OBJECT_CREATED
from tasks.elt.dataset import CLICKSTREAM_SAMPLE
from tasks.elt.notifications import post_notification
from tasks.lake import Lake
from tests.integration.deploy.stack import (
    POLL_LANDING,
    action_outcomes,
    counts,
    created_run,
    finished,
    platform,
    wait_for,
    wait_until_idle,
)
from tests.servers import ROOT

pytestmark = pytest.mark.integration

BUCKET, PREFIX = "ki-triggers", "lake"
ON_OBJECT = next(d.name for d in DECLARED if d.deployment == ELT_ON_OBJECT_CREATED)
SAMPLE = CLICKSTREAM_SAMPLE.read_bytes()


@pytest.fixture(scope="module")
def s3_env(s3_endpoint) -> dict[str, str]:
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint,
            "KI_LAKE_URL": f"s3://{BUCKET}/{PREFIX}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_env):
    with platform(tmp_path_factory.mktemp("elt-triggers"), worker_env=s3_env) as running, \
            pytest.MonkeyPatch.context() as env, temporary_settings({PREFECT_API_URL: running.api_url}):
        env.setenv("PREFECT_API_URL", running.api_url)
        for name, value in s3_env.items():
            env.setenv(name, value)
        yield running
        wait_until_idle(timeout=180)


@pytest.fixture(scope="module")
def lake(stack, s3_env) -> Lake:
    return Lake(s3_env["KI_LAKE_URL"], endpoint_url=s3_env["AWS_ENDPOINT_URL"])


def test_an_s3_notification_posted_to_the_api_starts_one_run_for_its_object(stack, lake):
    lake.put("landing/clickstream/2019 oct.csv", SAMPLE)
    body = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": BUCKET},
                                "object": {"key": f"{PREFIX}/landing/clickstream/2019+oct.csv",
                                           "size": len(SAMPLE), "eTag": "x"}}}]}
    [event_id] = post_notification(stack.api_url, json.dumps(body).encode())
    with get_client(sync_client=True) as client:
        actions = action_outcomes(client, event_id, expected=1)
        assert set(actions) == {ON_OBJECT}
        run = finished(client, created_run(actions[ON_OBJECT]))
        assert run.state.is_completed(), run.state
        assert run.parameters["notification"] == body
        deployment = client.read_deployment_by_name(ELT_ON_OBJECT_CREATED)
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])))
        assert [r.id for r in runs] == [run.id]
        metrics = counts(client, run.id)
    assert (metrics["files"], metrics["done"], metrics["new_events"], metrics["reconciles"]) == \
        ("1", "1", "1000", "True")
    assert lake.keys("landing") == []


def test_the_polling_deployment_picks_up_a_file_dropped_without_an_event(stack, lake):
    lake.put("landing/clickstream/no-event.csv.gz", gzip.compress(SAMPLE))
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(POLL_LANDING)
        client.resume_deployment(deployment.id)  # the scheduler creates its next minute's runs
        try:
            def processed():
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                    flow_run_filter=FlowRunFilter())
                done = [r for r in runs if r.state and r.state.is_completed()
                        and counts(client, r.id).get("done") == "1"]
                return done or None
            [run] = wait_for(processed, "a poll-landing run that ingested the file", timeout=240)
        finally:
            client.pause_deployment(deployment.id)
    assert run.auto_scheduled  # started by the schedule, not by this test
    assert lake.keys("landing") == []
    assert any(k.endswith("-no-event.csv.gz.manifest.json") for k in lake.keys("processed/clickstream/files"))


def test_two_concurrent_runs_process_each_file_once(stack, lake, tmp_path):
    for n in range(4):
        lake.put(f"landing/clickstream/batch-{n}.csv", SAMPLE)
    env = os.environ | {"KI_DATA_DIR": str(tmp_path / "data")}  # one warehouse and ledger for both
    runs = [subprocess.Popen([sys.executable, "-m", "flows.cli", "elt", "run", "--once"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    summaries = [json.loads(out) for out, _ in outputs]
    assert sum(s["done"] for s in summaries) == 4
    for summary in summaries:  # a file the other run held or finished is skipped, never redone
        assert summary["done"] + summary["skipped"] == summary["files"]
    processed_by = {}
    for summary in summaries:
        for report in summary["reports"]:
            if report["outcome"] == "done":
                assert report["key"] not in processed_by, f"{report['key']} processed twice"
                processed_by[report["key"]] = summary["run_id"]
    assert sorted(processed_by) == [f"landing/clickstream/batch-{n}.csv" for n in range(4)]
    assert lake.keys("landing") == []
    assert sum(s["new_events"] for s in summaries) == 1000  # four copies of one sample
