"""Issue 9: the unit of rejection is the smallest meaningful one. A bad entity of a notification, a
bad DataSetMessage of a NetworkMessage, a bad element of an OPC Publisher batch is rejected with its
path, and the other parts' readings are kept; what spoils every part still rejects the message.
Built from the real examples in tests/fixtures/telemetry (SOURCES.md), one part corrupted per test."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from tasks.telemetry.dlq import DeadLetterQueue
from tasks.telemetry.model import InvalidMessage, Limits, Reading
from tasks.telemetry.normalise import normalise, outcome

FIXTURES = Path(__file__).parents[2] / "fixtures" / "telemetry"
OPC = FIXTURES / "opc-publisher"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def load(path: Path):
    return orjson.loads(path.read_bytes())


def alone(doc) -> list[Reading]:
    return outcome(orjson.dumps(doc), Limits(), NOW).readings


V2_ENTITIES = [load(FIXTURES / name) for name in (
    "ngsiv2_WeatherObserved_normalized.json", "ngsiv2_EVChargingStation_normalized.json", "example-normalized.json",
)]
LD_ENTITIES = [
    {k: v for k, v in load(FIXTURES / name).items() if k != "@context"}  # the notification carries it
    for name in ("ngsild_WeatherObserved_normalized.jsonld", "example-normalized.jsonld")
]


def orion_notification(entities: list[dict]) -> dict:
    """What Orion POSTs to a subscriber (and an IoT connector forwards to Kafka)."""
    return {"subscriptionId": "57458eb60962ef754e7c0998", "data": copy.deepcopy(entities)}


def test_bad_entity_of_an_ngsi_v2_notification_is_rejected_alone():
    notification = orion_notification(V2_ENTITIES)
    notification["data"][1]["capacity"]["value"] = "two"  # a Number carrying text

    readings, rejected, reason = outcome(orjson.dumps(notification), Limits(), NOW)

    [bad] = rejected
    assert (bad.at, bad.error.code) == ("data[1]", "wrong_type")
    assert bad.error.detail == "data[1].capacity.value: 'two' cannot be read as a number"
    assert readings == alone(V2_ENTITIES[0]) + alone(V2_ENTITIES[2])  # the others, as if sent alone
    assert {r.entity_id for r in readings} == {V2_ENTITIES[0]["id"], V2_ENTITIES[2]["id"]} and reason is None


def test_bad_entity_of_an_ngsi_ld_notification_is_rejected_alone():
    notification = {"id": "urn:ngsi-ld:Notification:1", "type": "Notification", **orion_notification(LD_ENTITIES),
                    "notifiedAt": "2016-11-30T07:05:00Z",
                    "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"}
    notification["data"][0]["dateObserved"]["value"]["@value"] = "2099-01-01T00:00:00Z"

    parts = normalise(orjson.dumps(notification), Limits(), NOW)

    assert [(p.at, p.error and p.error.code) for p in parts] == [("data[0]", "future_timestamp"), ("data[1]", None)]
    assert len(parts[1].readings) == 22 and parts[1].readings[0].entity_id == LD_ENTITIES[1]["id"]


def test_top_level_array_of_entities():
    entities = copy.deepcopy(V2_ENTITIES)
    del entities[2]["id"]
    parts = normalise(orjson.dumps(entities), Limits(), NOW)
    assert [(p.at, p.error and p.error.code) for p in parts] == [("[0]", None), ("[1]", None), ("[2]", "missing_entity_id")]
    assert parts[0].readings == alone(V2_ENTITIES[0])


def test_bad_element_of_an_opc_publisher_batch_is_rejected_alone():
    batch = load(OPC / "samples-fm-batch.json")
    batch[2]["Value"]["SourceTimestamp"] = "0001-01-01T00:00:00Z"  # an unset device clock

    readings, rejected, _ = outcome(orjson.dumps(batch), Limits(), NOW)

    [bad] = rejected
    assert (bad.at, bad.error.code) == ("[2]", "bad_timestamp")
    assert bad.error.detail.startswith("[2].Value.SourceTimestamp: '0001-01-01T00:00:00Z' is before 1970")
    assert readings == [r for i, item in enumerate(batch) if i != 2 for r in alone(item)] and len(readings) == 4


def test_bad_dataset_message_of_a_network_message_is_rejected_alone():
    network = load(OPC / "pubsub-ua-data.json")
    second = copy.deepcopy(network["Messages"][0]) | {"DataSetWriterId": 2}
    second["Payload"]["StepUp"]["Value"] = {"Type": "Int32", "Body": "many"}
    network["Messages"].append(second)

    parts = normalise(orjson.dumps(network), Limits(), NOW)

    assert [(p.at, p.error and p.error.code, len(p.readings)) for p in parts] == [
        ("Messages[0]", None, 5), ("Messages[1]", "wrong_type", 0),
    ]
    assert parts[1].error.detail == "Messages[1].Payload.StepUp.Body: expected a number, got str"


def test_parts_nest_in_an_array_of_network_messages():
    good, bad = load(OPC / "pubsub-ua-data.json"), load(OPC / "pubsub-ua-data.json")
    bad["Messages"][0]["PublisherId"] = ""
    parts = normalise(orjson.dumps([good, bad]), Limits(), NOW)
    assert [(p.at, p.error and p.error.code) for p in parts] == [("[0].Messages[0]", None), ("[1].Messages[0]", "wrong_type")]
    assert parts[1].error.detail == "[1].Messages[0].PublisherId: entity id must be a non-empty string"


def test_what_spoils_a_batch_element_rejects_that_element_only():
    notification = orion_notification(V2_ENTITIES) | {"notifiedAt": "yesterday"}
    samples = load(OPC / "samples-fm-batch.json")[:2]
    parts = normalise(orjson.dumps([notification, *samples, 7]), Limits(), NOW)
    assert [(p.at, p.error and p.error.code) for p in parts] == [
        ("[0]", "bad_timestamp"), ("[1]", None), ("[2]", None), ("[3]", "unknown_shape"),
    ]
    assert str(parts[0].error) == "bad_timestamp: [0].notifiedAt: 'yesterday' is not ISO 8601"


@pytest.mark.parametrize("doc, code", [
    (orion_notification(V2_ENTITIES) | {"notifiedAt": "yesterday"}, "bad_timestamp"),  # applies to every entity
    ({"subscriptionId": "s", "data": {"id": "x"}}, "unknown_shape"),
    (load(OPC / "pubsub-ua-data.json") | {"MessageType": "ua-chunk"}, "unknown_shape"),
    (load(OPC / "pubsub-ua-data.json") | {"Messages": "none"}, "unknown_shape"),
    ([], "unknown_shape"),
    ("a string", "unknown_shape"),
])
def test_what_spoils_every_part_still_rejects_the_whole_message(doc, code):
    with pytest.raises(InvalidMessage) as caught:
        normalise(orjson.dumps(doc), Limits(), NOW)
    assert caught.value.code == code


def test_a_message_that_is_not_a_bundle_is_its_own_only_part():
    for doc in (V2_ENTITIES[0], load(OPC / "samples.json"), load(FIXTURES / "message-full.json")):
        [only] = normalise(orjson.dumps(doc), Limits(), NOW)
        assert only.at == "" and only.error is None and only.readings
    broken = load(FIXTURES / "message-full.json")  # `Messages` is one object: the message is the part
    broken["Messages"]["Payload"]["Temperature"]["Value"]["Body"] = "hot"
    with pytest.raises(InvalidMessage, match=r"wrong_type: Messages\[0\]\.Payload\.Temperature\.Body"):
        normalise(orjson.dumps(broken), Limits(), NOW)


def test_no_readings_reason_is_only_for_messages_without_rejected_parts():
    keep_alive = {"MessageType": "ua-keepalive", "DataSetWriterId": 1}
    assert outcome(orjson.dumps([keep_alive]), Limits(), NOW) == ([], [], "keep_alive")
    readings, [bad], reason = outcome(orjson.dumps([keep_alive, 7]), Limits(), NOW)
    assert (readings, bad.at, reason) == ([], "[1]", None)  # partly dead-lettered, not "no readings"


class _Producer:
    def __init__(self):
        self.produced = []

    def produce(self, topic, value, key, headers, on_delivery):
        self.produced.append((topic, value, key, dict(headers)))


class _Message:
    def __init__(self, value: bytes):
        self._value = value

    def value(self):
        return self._value

    def key(self):
        return b"station"

    def topic(self):
        return "telemetry.fiware.raw"

    def partition(self):
        return 3

    def offset(self):
        return 41

    def timestamp(self):
        return 1, 1700000000000


def test_a_part_dead_letter_names_the_part_and_keeps_the_original_message():
    notification = orion_notification(V2_ENTITIES)
    notification["data"][1]["capacity"]["value"] = "two"
    notification["data"][2]["co"]["value"] = "lots"
    payload = orjson.dumps(notification)
    producer = _Producer()
    dlq = DeadLetterQueue(producer, "telemetry.dlq", Limits().max_bytes)
    for part in outcome(payload, Limits(), NOW).rejected:
        dlq.send(_Message(payload), part.error, part.at)
    dlq.send(_Message(b"{"), InvalidMessage("invalid_json", "unexpected end of data"))

    (_, v1, k1, h1), (_, v2, _, h2), (_, _, _, whole) = producer.produced  # one record per bad part
    assert (v1, v2, k1) == (payload, payload, b"station")
    assert (h1["error_at"], h1["error_code"], h1["error"]) == (
        b"data[1]", b"wrong_type", b"data[1].capacity.value: 'two' cannot be read as a number",
    )
    assert (h2["error_at"], h2["original_offset"], h2["original_topic"]) == (b"data[2]", b"41", b"telemetry.fiware.raw")
    assert "error_at" not in whole and whole["error_code"] == b"invalid_json"
