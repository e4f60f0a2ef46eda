"""Process-level guarantees: SIGKILL between the DB commit and the offset commit loses and
duplicates nothing; SIGTERM stops the long-running mode with everything written committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka import Producer

from flows.telemetry_ingest import telemetry_ingest
from tasks.telemetry.simulator import FIWARE_TOPIC, generate

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent


def traffic(env, n: int, seed: int):
    start = datetime.now(timezone.utc) - timedelta(days=1)
    for m in generate(devices=16, messages=n, seed=seed, start=start):
        yield env.fiware if m.topic == FIWARE_TOPIC else env.opcua, m.key, m.value


def test_sigkill_after_db_commit_before_offset_commit(prefect_harness, kafka, telemetry, pg, helpers):
    items = list(traffic(telemetry, 240, seed=5))
    delivered = kafka.produce(items)
    expected = helpers.expected_rows(delivered)
    params = dict(
        bootstrap_servers=kafka.bootstrap, database_url=helpers.database_url, table=telemetry.table,
        topics=telemetry.topics, dlq_topic=telemetry.dlq, group_id=telemetry.group, batch_size=40,
        consumer_options=telemetry.consumer_options, kill_after_batches=2,
    )
    child = subprocess.run([sys.executable, str(HERE / "consumer_child.py"), json.dumps(params)],
                           capture_output=True, text=True, timeout=120, cwd=helpers.repo)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    first, killed = [json.loads(line) for line in child.stdout.splitlines()]

    # Batch 2 is in the database, but the group's offsets still stop after batch 1.
    assert helpers.committed_total(kafka.committed(telemetry.group, telemetry.topics)) == first["consumed"]
    assert len(helpers.table_rows(pg, telemetry.table)) == killed["written"] > first["written"] > 0

    # Restart (the flow, same group): it replays batch 2, which the sink skips as duplicates.
    state = telemetry_ingest(
        topics=telemetry.topics, dlq_topic=telemetry.dlq, group_id=telemetry.group, batch_size=40,
        max_messages=len(items) - first["consumed"], max_seconds=90,
        consumer_options=telemetry.consumer_options, return_state=True,
    )
    summary = state.result()
    assert summary["duplicates_skipped"] == killed["written"] - first["written"]
    rows = helpers.table_rows(pg, telemetry.table)
    assert len(rows) == len(expected) and set(rows) == expected  # no duplicate, no missing reading
    assert helpers.committed_total(kafka.committed(telemetry.group, telemetry.topics)) == len(items)


def test_long_running_mode_stops_cleanly_on_sigterm(prefect_harness, kafka, telemetry, pg, helpers):
    delivered, stop_producing = [], threading.Event()

    def produce() -> None:  # a live stream, still flowing when the consumer is told to stop
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 5})
        for topic, key, value in traffic(telemetry, 100_000, seed=6):
            if stop_producing.is_set():
                break
            producer.produce(topic, value, key, on_delivery=lambda err, m: err or delivered.append(m))
            producer.poll(0)
            time.sleep(1 / 200)
        producer.flush(10)

    stream = threading.Thread(target=produce)
    stream.start()
    params = dict(topics=telemetry.topics, dlq_topic=telemetry.dlq, group_id=telemetry.group, batch_size=50,
                  consumer_options=telemetry.consumer_options)
    child = subprocess.Popen(
        [sys.executable, str(HERE / "flow_child.py"), json.dumps(params)], cwd=helpers.repo,
        env={**os.environ, "PREFECT_API_URL": prefect_harness},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _row_count(pg, telemetry.table):
            assert time.monotonic() < deadline and child.poll() is None, "the flow never wrote a reading"
            time.sleep(0.2)
        time.sleep(1.5)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        stop_producing.set()
        stream.join()
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    summary = result["summary"]
    assert result["state"] == "CANCELLED" and summary["stopped_by"] == "SIGTERM"

    committed = kafka.committed(telemetry.group, telemetry.topics)
    assert helpers.committed_total(committed) == summary["consumed"] < len(delivered)
    landed = [d for d in _as_delivered(delivered) if d.offset < committed[(d.topic, d.partition)]]
    rows = helpers.table_rows(pg, telemetry.table)
    assert len(rows) == summary["written"] and set(rows) == helpers.expected_rows(landed)


def _row_count(pg, table: str) -> int:
    if pg.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is None:
        return 0
    return pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _as_delivered(messages):
    from types import SimpleNamespace

    return [SimpleNamespace(topic=m.topic(), partition=m.partition(), offset=m.offset(), value=m.value())
            for m in messages]
