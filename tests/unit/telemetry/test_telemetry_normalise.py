"""The real FIWARE / OPC UA examples (tests/fixtures/telemetry, see SOURCES.md) -> expected readings."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from tasks.telemetry.model import Limits, Reading
from tasks.telemetry.normalise import normalise, outcome

FIXTURES = Path(__file__).parents[2] / "fixtures" / "telemetry"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
OBSERVED = datetime(2016, 3, 15, 11, 0, tzinfo=timezone.utc)
V2_ID = "Madrid-AmbientObserved-28079004-2016-03-15T11:00:00"
LD_ID = "urn:ngsi-ld:AirQualityObserved:" + V2_ID
OPC_ID = "urn:BlackIce:opcfoundation:iot-starterkit:publisher/1"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def readings_of(payload: bytes) -> list[Reading]:
    """The readings of a message that must be accepted whole."""
    got = outcome(payload, Limits(), NOW)
    assert not got.rejected
    return got.readings


def by_metric(payload: bytes) -> dict[str, Reading]:
    readings = readings_of(payload)
    result = {r.metric: r for r in readings}
    assert len(result) == len(readings), "one reading per metric"
    return result


def test_ngsi_v2_normalized_fixture():
    got = by_metric(fixture("example-normalized.json"))
    assert sorted(got) == sorted([
        "areaServed", "airQualityLevel", "co", "temperature", "no", "refPointOfInterest", "windDirection",
        "source", "windSpeed", "so2", "nox", "typeOfLocation", "airQualityIndex", "reliability",
        "relativeHumidity", "precipitation", "no2", "coLevel", "pm4", "tpc", "tsp", "pressure", "charge",
    ])  # dateObserved is the time; location (geo:json) and address (StructuredValue) are context
    assert got["co"] == Reading(OBSERVED, "fiware", V2_ID, "AirQualityObserved", "co", 500.0, None, "GP", None)
    assert (got["no2"].value, got["no2"].unit) == (69.0, "GQ")
    assert (got["temperature"].value, got["temperature"].unit) == (12.2, None)
    assert got["windDirection"].value == 176.0
    assert got["precipitation"].value == 0.0  # Boolean false
    assert (got["airQualityLevel"].value, got["airQualityLevel"].value_text) == (None, "moderate")
    assert got["source"].value_text == "http://datos.madrid.es"
    assert {r.time for r in got.values()} == {OBSERVED}  # naive dateObserved is taken as UTC


def test_ngsi_ld_normalized_fixture():
    got = by_metric(fixture("example-normalized.jsonld"))
    assert len(got) == 22  # refPointOfInterest is a Relationship here, location a GeoProperty
    assert "refPointOfInterest" not in got and "location" not in got and "address" not in got
    assert got["co"] == Reading(OBSERVED, "fiware", LD_ID, "AirQualityObserved", "co", 500.0, None, "GP", None)
    assert (got["so2"].value, got["so2"].unit) == (11.0, "GQ")
    assert got["windDirection"].value == 186.0
    assert got["precipitation"].value == 0.0
    assert got["coLevel"].value_text == "moderate"
    assert got["charge"].value == 5.0
    assert {r.entity_id for r in got.values()} == {LD_ID}


def test_opcua_fixture_messages_object():
    got = by_metric(fixture("message-full.json"))
    assert got == {
        "Temperature": Reading(
            datetime(2021, 3, 29, 0, 52, 50, 153569, tzinfo=timezone.utc), "opcua", OPC_ID,
            "7970a3aa-f55d-426b-943d-11777d9d8ac1", "Temperature", 3.0, None, None, {"seq": 46, "ua_type": 11}, "Good", 0,
        ),
        "Setpoint": Reading(
            datetime(2021, 3, 29, 0, 52, 50, 153571, tzinfo=timezone.utc), "opcua", OPC_ID,
            "7970a3aa-f55d-426b-943d-11777d9d8ac1", "Setpoint", 10.0, None, None, {"seq": 46, "ua_type": 11}, "Good", 0,
        ),
    }


def test_opcua_messages_array_and_encodings():
    doc = orjson.loads(fixture("message-full.json"))
    second = copy.deepcopy(doc["Messages"])
    second.update(DataSetWriterId="2", Timestamp="2021-03-29T00:52:51.0000000Z")
    second["Payload"] = {
        "Mode": {"Type": 12, "Body": "Auto"},  # Variant encoding: time from the DataSetMessage
        "Count": {"Value": {"Type": 8, "Body": "9007199254740993"}, "SourceTimestamp": "2021-03-29T00:52:51Z"},
        "Running": True,  # raw encoding
        "Tags": {"Value": {"Type": 12, "Body": ["a", "b"]}},  # arrays are not readings
    }
    doc["Messages"] = [doc["Messages"], second]
    readings = readings_of(orjson.dumps(doc))
    assert [(r.entity_id, r.metric) for r in readings] == [
        (OPC_ID, "Temperature"), (OPC_ID, "Setpoint"),
        (OPC_ID[:-1] + "2", "Mode"), (OPC_ID[:-1] + "2", "Count"), (OPC_ID[:-1] + "2", "Running"),
    ]
    mode, count, running = readings[2:]
    assert (mode.value_text, mode.time) == ("Auto", datetime(2021, 3, 29, 0, 52, 51, tzinfo=timezone.utc))
    assert count.value == 9007199254740993.0 and count.attrs == {"seq": 46, "ua_type": 8}
    assert running.value == 1.0 and running.attrs == {"seq": 46}


def test_ngsi_v2_key_values_from_fixture():
    doc = orjson.loads(fixture("example-normalized.json"))
    key_values = {k: (v["value"] if isinstance(v, dict) else v) for k, v in doc.items()}
    got = by_metric(orjson.dumps(key_values))
    assert len(got) == 23 and "location" not in got and "address" not in got
    assert got["co"] == Reading(OBSERVED, "fiware", V2_ID, "AirQualityObserved", "co", 500.0, None, None, None)
    assert got["typeOfLocation"].value_text == "outdoor"


def test_ngsi_v2_notification_and_attribute_time():
    entity = orjson.loads(fixture("example-normalized.json"))
    entity["co"]["metadata"]["TimeInstant"] = {"type": "DateTime", "value": "2016-03-15T11:05:00+01:00"}
    entity["co"]["metadata"]["accuracy"] = {"type": "Number", "value": 0.5}
    notification = {"subscriptionId": "5aeb0ee97d4ef10a12a0262f", "data": [entity, entity | {"id": "other"}]}
    readings = readings_of(orjson.dumps(notification))
    assert len(readings) == 46
    co = next(r for r in readings if r.metric == "co")
    assert co.time == datetime(2016, 3, 15, 10, 5, tzinfo=timezone.utc)  # attribute time wins, in UTC
    assert co.attrs == {"accuracy": 0.5}


def test_ngsi_ld_observed_at_wins_over_entity_time():
    doc = orjson.loads(fixture("example-normalized.jsonld"))
    doc["no2"]["observedAt"] = "2016-03-15T10:59:30Z"
    got = by_metric(orjson.dumps(doc))
    assert got["no2"].time == datetime(2016, 3, 15, 10, 59, 30, tzinfo=timezone.utc)
    assert got["so2"].time == OBSERVED


@pytest.mark.parametrize("name", ["example-normalized.json", "example-normalized.jsonld", "message-full.json"])
def test_normalise_is_deterministic(name):
    assert normalise(fixture(name), Limits(), NOW) == normalise(fixture(name), Limits(), NOW)
