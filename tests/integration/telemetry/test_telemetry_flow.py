"""telemetry_ingest end to end: real Tansu broker, real PostgreSQL, temporary Prefect server."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.telemetry_ingest import telemetry_ingest
from tasks.telemetry.dlq import EXCERPT_BYTES
from tasks.telemetry.simulator import FIWARE_TOPIC, generate

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parents[2] / "fixtures" / "telemetry"


def simulated(env, n: int, *, bad_share: float = 0.0, seed: int = 1):
    """Simulator traffic re-routed to this test's topics, with the reason each bad message must get
    and the parts it must be given for (() when the whole message is dead-lettered)."""
    start = datetime.now(timezone.utc) - timedelta(days=2)
    out = []
    for m in generate(devices=16, messages=n, bad_share=bad_share, seed=seed, start=start):
        out.append(((env.fiware if m.topic == FIWARE_TOPIC else env.opcua, m.key, m.value), (m.error, m.error_at)))
    return out


def run_flow(env, **params):
    state = telemetry_ingest(
        topics=env.topics, dlq_topic=env.dlq, group_id=params.pop("group_id", env.group),
        consumer_options=env.consumer_options, max_seconds=params.pop("max_seconds", 90), return_state=True,
        **params,
    )
    return state, state.result()


def artifact_rows(state) -> dict[str, object]:
    this_run = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=this_run)
    (artifact,) = [a for a in artifacts if a.key == "telemetry-ingest"]
    data = orjson.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return {row["measure"]: row["value"] for row in data}


def headers(message) -> dict[str, str]:
    return {k: v.decode() for k, v in message.headers() or []}


def partly_bad(env):
    """Real messages with one bad part each: an Orion notification of three entities, the second
    one's Number carrying text, and an OPC Publisher batch of five, the third one's clock unset."""
    weather = orjson.loads((FIXTURES / "ngsiv2_WeatherObserved_normalized.json").read_bytes())
    station = orjson.loads((FIXTURES / "ngsiv2_EVChargingStation_normalized.json").read_bytes())
    station["capacity"]["value"] = "two"
    notification = {"subscriptionId": "57458eb60962ef754e7c0998",
                    "data": [weather, station, weather | {"id": "Valladolid-2"}]}
    batch = orjson.loads((FIXTURES / "opc-publisher" / "samples-fm-batch.json").read_bytes())
    batch[2]["Value"]["SourceTimestamp"] = "0001-01-01T00:00:00Z"
    return [((env.fiware, b"orion", orjson.dumps(notification)), ("wrong_type", ("data[1]",))),
            ((env.opcua, b"opcplc", orjson.dumps(batch)), ("bad_timestamp", ("[2]",)))]


def test_end_to_end_table_and_dead_letters_are_exact(prefect_harness, kafka, telemetry, pg, helpers):
    names = ("example-normalized.json", "example-normalized.jsonld", "message-full.json")
    v2, ld, ua = (FIXTURES / name for name in names)
    good = (None, ())
    items = [((telemetry.fiware, b"madrid", v2.read_bytes()), good),
             ((telemetry.fiware, b"madrid-ld", ld.read_bytes()), good),
             ((telemetry.opcua, b"blackice", ua.read_bytes()), good)]
    items += partly_bad(telemetry)
    items += simulated(telemetry, 400, bad_share=0.1)
    items.append(((telemetry.fiware, b"madrid", v2.read_bytes()), good))  # redelivered by its producer
    delivered = kafka.produce([item for item, _ in items])
    labels = {(d.topic, d.partition, d.offset): label for d, (_, label) in zip(delivered, items) if label[0]}
    # one DLQ record per rejected part (error_at = its path), one per message rejected whole (no error_at)
    records = {(origin, at): code for origin, (code, parts) in labels.items() for at in (parts or (None,))}
    whole = sum(not parts for _, parts in labels.values())
    partly = len(labels) - whole
    expected = helpers.expected_rows(delivered)

    state, summary = run_flow(telemetry, max_messages=len(items), batch_size=100)

    assert state.is_completed()
    assert summary["consumed"] == len(items)
    assert summary["written"] == len(expected)
    assert summary["duplicates_skipped"] == 23  # the second copy of the NGSI-v2 fixture
    assert summary["dead_lettered"] == whole > 10
    assert summary["partly_dead_lettered"] == partly > 5  # the two above and simulated ones
    assert summary["parts_dead_lettered"] == len(records) - whole > partly  # some messages lost every part
    assert summary["dead_letter_reasons"] == dict(Counter(records.values()))
    assert summary["with_readings"] == len(items) - len(labels) and summary["no_readings"] == 0
    assert summary["reconciles"] is True
    assert summary["stopped_by"] == "max_messages" and summary["lag_at_end"] == 0
    assert summary["storage"] == "partitioned"

    rows = helpers.table_rows(pg, telemetry.table)
    assert len(rows) == len(expected) and set(rows) == expected
    landed = Counter(row[0] for row in rows)  # the good parts of the partly bad messages landed
    assert (landed["Valladolid.2016-11-30T07-00-00.00Z"], landed["Valladolid-2"]) == (14, 14)
    assert landed["urn:ngsi-ld:EVChargingStation:ValladolI+D_Covaresa"] == 0
    opcplc = sorted(row[1].split(";s=")[1] for row in rows if row[0] == "opc.tcp://opcplc:50000_9C43F84E")
    assert opcplc == ["AlternatingBoolean", "BadFastUInt1", "RandomUnsignedInt32", "StepUp"]  # [2] is not

    dead = kafka.read_all(telemetry.dlq, len(records))
    assert len(dead) == len(records)
    by_origin = {}
    for message in dead:
        h = headers(message)
        origin = (h["original_topic"], int(h["original_partition"]), int(h["original_offset"]))
        by_origin[(origin, h.get("error_at"))] = (h, message.value())
    assert set(by_origin) == set(records)
    originals = {(d.topic, d.partition, d.offset): d.value for d in delivered}
    for (origin, at), (h, value) in by_origin.items():
        assert h["error_code"] == records[(origin, at)] and h["error"]
        assert at is None or h["error"].startswith(at)  # the detail names the field inside the part
        assert value == originals[origin]  # the whole original message, for every part
        assert datetime.fromisoformat(h["dead_lettered_at"]) <= datetime.now(timezone.utc)

    table = artifact_rows(state)
    assert (table["consumed"], table["written"], table["duplicates_skipped"], table["dead_lettered"],
            table["partly_dead_lettered"], table["parts_dead_lettered"], table["reconciles"], table["lag_at_end"]
            ) == (len(items), len(expected), 23, whole, partly, len(records) - whole, True, 0)
    assert all(table[f"dead_lettered: {code}"] == n for code, n in Counter(records.values()).items())


def test_replay_from_offset_zero_changes_nothing(prefect_harness, kafka, telemetry, pg, helpers):
    items = [item for item, _ in simulated(telemetry, 300, bad_share=0.05, seed=2)]
    kafka.produce(items)
    _, first = run_flow(telemetry, max_messages=len(items))
    before = helpers.table_checksum(pg, telemetry.table)
    assert before[0] == first["written"] > 0

    # A new consumer group starts at offset 0 (auto.offset.reset=earliest): a full replay.
    _, replay = run_flow(telemetry, group_id=telemetry.group + "-replay", max_messages=len(items))

    assert helpers.table_checksum(pg, telemetry.table) == before
    assert (replay["consumed"], replay["written"], replay["duplicates_skipped"]) == (len(items), 0, first["written"])
    # the DLQ is at least once: a replay dead-letters every reject again, whole messages and parts
    assert (replay["dead_lettered"], replay["parts_dead_lettered"]) == (first["dead_lettered"], first["parts_dead_lettered"])
    assert replay["partly_dead_lettered"] == first["partly_dead_lettered"] > 0


def test_poison_messages_go_to_the_dlq_and_the_consumer_keeps_going(prefect_harness, kafka, telemetry, pg, helpers):
    good = [item for item, _ in simulated(telemetry, 40, seed=3)]
    deep = b"[" * 200_000 + b"]" * 200_000
    nested = b'{"id": "x", "a": ' + b'{"b": ' * 40 + b"1" + b"}" * 41
    v2 = orjson.loads((FIXTURES / "example-normalized.json").read_bytes())
    poison = {
        "invalid_json": b'{"id": "urn:x", "type": "T", "temperature": {"value": 21.',
        "too_large": b'{"id": "big", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}',
        "too_deep": [deep, nested],
        "wrong_type": [orjson.dumps(v2 | {"co": {"type": "Number", "value": "high"}}),
                       orjson.dumps(v2 | {"id": 28079004})],
    }
    bad = [(code, p) for code, ps in poison.items() for p in (ps if isinstance(ps, list) else [ps])]
    # One partition, poison interleaved: every good message after a poison one must still land.
    items = []
    for i, item in enumerate(good):
        items.append((item[0], item[1], item[2]))
        if i % 7 == 3 and bad:
            code, payload = bad.pop(0)
            items.append((telemetry.fiware, f"poison-{code}".encode(), payload))
    assert not bad
    delivered = kafka.produce(items, partition=0)
    expected = helpers.expected_rows(delivered)

    state, summary = run_flow(telemetry, max_messages=len(items), batch_size=5)

    assert state.is_completed() and summary["consumed"] == len(items)
    assert summary["dead_letter_reasons"] == {"invalid_json": 1, "too_large": 1, "too_deep": 2, "wrong_type": 2}
    assert set(helpers.table_rows(pg, telemetry.table)) == expected and summary["written"] == len(expected)
    dead = kafka.read_all(telemetry.dlq, 6)
    assert sorted(headers(m)["error_code"] for m in dead) == ["invalid_json", "too_deep", "too_deep", "too_large",
                                                              "wrong_type", "wrong_type"]
    (big,) = [m for m in dead if headers(m)["error_code"] == "too_large"]
    assert headers(big)["truncated"] == "true" and int(headers(big)["original_size"]) > 10 * 1024 * 1024
    assert big.value() == items[[i[1] for i in items].index(b"poison-too_large")][2][:EXCERPT_BYTES]


def test_micro_batch_stops_at_max_messages_and_reports_lag(prefect_harness, kafka, telemetry, helpers):
    items = [item for item, _ in simulated(telemetry, 30, seed=4)]
    kafka.produce(items)
    _, summary = run_flow(telemetry, max_messages=20, batch_size=8)
    assert (summary["consumed"], summary["stopped_by"]) == (20, "max_messages")
    assert summary["lag_at_end"] == 10
    assert helpers.committed_total(kafka.committed(telemetry.group, telemetry.topics)) == 20
