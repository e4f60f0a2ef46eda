"""Issue 9: what real FIWARE and OPC UA producers send (tests/fixtures/telemetry, SOURCES.md)
normalises to the expected readings, by structure, with the time and status rules."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from tasks.telemetry.model import InvalidMessage, Limits, Reading
from tasks.telemetry.normalise import no_readings_reason, outcome

FIXTURES = Path(__file__).parents[2] / "fixtures" / "telemetry"
OPC = FIXTURES / "opc-publisher"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
WEATHER_TIME = datetime(2016, 11, 30, 7, 0, tzinfo=timezone.utc)
EV_TIME = datetime(2022, 6, 28, 14, 57, 29, tzinfo=timezone.utc)  # observationDateTime, +05:30


def readings(payload: bytes | dict | list) -> list[Reading]:
    """The readings of a message that must be accepted whole (it raises when rejected whole)."""
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    got = outcome(raw, Limits(), NOW)
    assert not got.rejected
    return got.readings


def by_metric(payload) -> dict[str, Reading]:
    return {r.metric: r for r in readings(payload)}


def load(path: Path):
    return orjson.loads(path.read_bytes())


WEATHER_METRICS = {
    "atmosphericPressure", "dataProvider", "illuminance", "precipitation", "pressureTendency",
    "relativeHumidity", "snowHeight", "source", "streamGauge", "temperature", "uVIndexMax",
    "windDirection", "windSpeed",
}


def test_weather_observed_v2_normalized():
    got = by_metric((FIXTURES / "ngsiv2_WeatherObserved_normalized.json").read_bytes())
    assert set(got) == WEATHER_METRICS | {"refDevice"}  # location (geo:json), address: context
    assert got["temperature"] == Reading(
        WEATHER_TIME, "fiware", "Valladolid.2016-11-30T07-00-00.00Z", "WeatherObserved", "temperature",
        3.3, None, None, None,
    )
    assert got["relativeHumidity"].value == 0.15 and got["refDevice"].value_text == "device-0A3478"


def test_weather_observed_v2_key_values():
    got = by_metric((FIXTURES / "ngsiv2_WeatherObserved_keyvalues.json").read_bytes())
    assert set(got) == WEATHER_METRICS | {"refDevice"}
    assert (got["atmosphericPressure"].value, got["atmosphericPressure"].time) == (938.9, WEATHER_TIME)


def test_weather_observed_ld_normalized_with_typed_literal_date():
    got = by_metric((FIXTURES / "ngsild_WeatherObserved_normalized.jsonld").read_bytes())
    assert set(got) == WEATHER_METRICS  # refDevice is a Relationship in NGSI-LD
    assert {r.time for r in got.values()} == {WEATHER_TIME}
    assert got["illuminance"].entity_id.startswith("urn:ngsi-ld:WeatherObserved:")


def test_ev_charging_station_v2_with_an_ngsi_ld_style_id():
    """The id starts with `urn:ngsi-ld:` but the entity is NGSI-v2: detected by structure."""
    got = by_metric((FIXTURES / "ngsiv2_EVChargingStation_normalized.json").read_bytes())
    assert "name" not in got and "address" not in got and "socketType" not in got
    assert got["capacity"] == Reading(
        EV_TIME, "fiware", "urn:ngsi-ld:EVChargingStation:ValladolI+D_Covaresa", "EVChargingStation",
        "capacity", 2.0, None, None, None,
    )
    assert got["capacity"].status is None  # NGSI has no status codes
    assert got["taxAmountCollected"].value == 0.0 and got["operator"].value_text == "Iberdrola"


def test_ev_charging_station_ld_key_values():
    got = by_metric((FIXTURES / "ngsild_EVChargingStation_keyvalues.jsonld").read_bytes())
    assert "name" not in got and "location" not in got and "allowedVehicleType" not in got
    assert (got["powerConsumption"].value, got["powerConsumption"].time) == (10.0, EV_TIME)


def test_opc_publisher_pubsub_network_message_keeps_bad_status_as_status_only_row():
    got = by_metric((OPC / "pubsub-ua-data.json").read_bytes())
    assert set(got) == {"AlternatingBoolean", "StepUp", "RandomSignedInt32", "RandomUnsignedInt32", "BadFastUInt1"}
    assert got["StepUp"] == Reading(
        datetime(2022, 3, 18, 12, 55, 21, 331353, tzinfo=timezone.utc), "opcua",
        "opc.tcp://opcplc:50000_70FB9F43/1", None, "StepUp", 23305.0, None, None, {"seq": 27}, "Good", 0,
    )
    bad = got["BadFastUInt1"]
    assert (bad.value, bad.value_text, bad.attrs) == (None, None, {"seq": 27})
    assert (bad.status, bad.status_code) == ("Bad", 2150694912)


@pytest.mark.parametrize("name, count", [
    ("samples.json", 1), ("samples-fm-batch.json", 5), ("samples-legacy.json", 1),
    ("samples-legacy-uncertain.json", 1), ("samples-legacy-batch.json", 5),
])
def test_opc_publisher_samples_mode(name, count):
    got = readings((OPC / name).read_bytes())
    assert len(got) == count
    assert all(r.source == "opcua" and r.metric.startswith("nsu=http://microsoft.com/Opc/OpcPlc/") for r in got)


def test_opc_publisher_samples_entity_time_and_status():
    [step] = readings((OPC / "samples.json").read_bytes())
    assert step.entity_id == "opc.tcp://opcplc:50000_D09D61EF"  # ExtensionFields.PublisherId
    assert step.time == datetime(2022, 3, 18, 12, 52, 42, 132754, tzinfo=timezone.utc)  # SourceTimestamp
    assert step.attrs == {"seq": 120, "display_name": "StepUp"}
    [uncertain] = readings((OPC / "samples-legacy-uncertain.json").read_bytes())
    assert uncertain.entity_id == "opc.tcp://opcplc:50000/"  # legacy: no PublisherId, the endpoint
    assert uncertain.value == 4.0
    assert (uncertain.attrs, uncertain.status, uncertain.status_code) == (None, "Uncertain", 1083179008)
    lines = (OPC / "samples-fm.jsonl").read_bytes().splitlines()
    [bad] = readings(lines[1])
    assert bad.value is None and bad.status == "Bad"


# -- messages written for each rule ------------------------------------------------------------

UA = load(FIXTURES / "message-full.json")


def network(payload: dict, **header) -> dict:
    return {"MessageId": "1", "MessageType": "ua-data", "PublisherId": "plc", **header,
            "Messages": [{"DataSetWriterId": 7, "Payload": payload}]}


def test_opc_publisher_metadata_is_counted_as_metadata_only():
    payload = (OPC / "pubsub-ua-metadata.json").read_bytes()
    assert readings(payload) == []
    assert no_readings_reason(payload, Limits()) == "metadata_only"


@pytest.mark.parametrize("doc, reason", [
    ({"MessageType": "ua-data", "PublisherId": "p", "Messages": [{"MessageType": "ua-keepalive", "DataSetWriterId": 1}]},
     "keep_alive"),
    ({"id": "x", "type": "T", "name": {"type": "Text", "value": "hall"}}, "metadata_only"),
    ({"id": "x", "type": "T", "dateObserved": "2025-01-01T00:00:00Z",
      "address": {"type": "StructuredValue", "value": {"a": 1}}, "socketType": {"type": "StructuredValue", "value": ["x"]}},
     "only_structured_values"),
    ({"subscriptionId": "s", "data": []}, "no_entities"),
    (network({"Blob": {"Value": {"Type": "ByteString", "Body": "AAEC"}}}), "only_structured_values"),
])
def test_messages_without_readings_have_a_named_reason(doc, reason):
    payload = orjson.dumps(doc)
    assert readings(payload) == []
    assert no_readings_reason(payload, Limits()) == reason


def test_top_level_array_of_network_messages_is_a_batch():
    second = network({"Speed": {"Value": 4.5, "SourceTimestamp": "2025-01-01T00:00:00Z"}})
    got = readings([UA, second])
    assert [(r.entity_id, r.metric) for r in got][-1] == ("plc/7", "Speed")
    assert len(got) == 3


@pytest.mark.parametrize("field, value, ua_type", [
    ({"Value": {"Type": "Double", "Body": 1.5}, "SourceTimestamp": "2025-01-01T00:00:00Z"}, 1.5, 11),
    ({"Value": {"Type": "Int64", "Body": "12"}, "SourceTimestamp": "2025-01-01T00:00:00Z"}, 12.0, 8),
    ({"UaType": 6, "Value": 3, "SourceTimestamp": "2025-01-01T00:00:00Z"}, 3.0, 6),  # OPC UA 1.05
    ({"Value": {"UaType": 10, "Value": 0.25}, "SourceTimestamp": "2025-01-01T00:00:00Z"}, 0.25, 10),
])
def test_reversible_type_names_and_1_05_ua_type(field, value, ua_type):
    [got] = readings(network({"F": field}))
    assert (got.value, got.attrs["ua_type"]) == (value, ua_type)


def test_byte_string_by_name_is_not_a_reading_nor_a_rejection():
    field = {"Value": {"Type": "ByteString", "Body": "AAEC"}, "SourceTimestamp": "2025-01-01T00:00:00Z"}
    ok = {"Value": 1, "SourceTimestamp": "2025-01-01T00:00:00Z"}
    assert [r.metric for r in readings(network({"Blob": field, "N": ok}))] == ["N"]


def test_bare_dataset_message_without_network_header():
    message = {"DataSetWriterId": 3, "MessageType": "ua-keyframe", "Timestamp": "2025-01-01T00:00:00Z",
               "Payload": {"Level": {"Value": 0.7}}}
    [got] = readings(message)
    assert (got.entity_id, got.value, got.time) == ("3", 0.7, datetime(2025, 1, 1, tzinfo=timezone.utc))


def test_network_timestamp_is_the_last_time_fallback():
    [got] = readings(network({"P": {"Value": 2}}, Timestamp="2025-02-01T00:00:00Z"))
    assert got.time == datetime(2025, 2, 1, tzinfo=timezone.utc)


def test_numbers_sent_as_strings_by_iot_agents():
    entity = {"id": "urn:ngsi-ld:Device:1", "type": "Device",
              "TimeInstant": {"type": "DateTime", "value": "2025-01-01T00:00:00Z"},
              "count": {"type": "Integer", "value": "1"}, "temp": {"type": "Number", "value": "21.5"},
              "on": {"type": "Boolean", "value": "true"}}
    got = by_metric(entity)
    assert (got["count"].value, got["temp"].value, got["on"].value) == (1.0, 21.5, 1.0)
    entity["temp"]["value"] = "warm"
    with pytest.raises(InvalidMessage, match="wrong_type: entity.temp.value: 'warm' cannot be read as a number"):
        readings(entity)


def test_ld_notification_static_name_without_time_does_not_reject():
    notification = {"id": "urn:ngsi-ld:Notification:1", "type": "Notification", "subscriptionId": "s",
                    "data": [{"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor",
                              "name": {"type": "Property", "value": "hall"},
                              "model": {"type": "Property", "value": "X1"},
                              "temperature": {"type": "Property", "value": 20.5, "observedAt": "2025-01-01T00:00:00Z"}}]}
    assert set(by_metric(notification)) == {"temperature"}  # no time for `model`: a static property
    notification["notifiedAt"] = "2025-01-01T00:05:00Z"
    got = by_metric(notification)
    assert set(got) == {"temperature", "model"}  # `name` describes the entity: never a reading
    assert got["model"].time == datetime(2025, 1, 1, 0, 5, tzinfo=timezone.utc)
    assert got["temperature"].time == datetime(2025, 1, 1, tzinfo=timezone.utc)


def test_notified_at_and_observation_interval_are_time_fallbacks():
    notification = {"subscriptionId": "s", "notifiedAt": "2025-03-01T00:00:00Z", "@context": [],
                    "data": [{"id": "a", "type": "T", "level": {"type": "Property", "value": 1}},
                             {"id": "b", "type": "T", "dateObservedFrom": "2025-01-01T00:00:00Z",
                              "dateObservedTo": "2025-01-02T00:00:00Z", "level": {"type": "Property", "value": 2}}]}
    a, b = readings(notification)
    assert a.time == datetime(2025, 3, 1, tzinfo=timezone.utc)
    assert b.time == datetime(2025, 1, 2, tzinfo=timezone.utc)


def test_untimed_static_properties_are_skipped_when_siblings_are_timed():
    entity = {"id": "d", "type": "T", "@context": [], "serial": {"type": "Property", "value": "S-1"},
              "temperature": {"type": "Property", "value": 20.5, "observedAt": "2025-01-01T00:00:00Z"}}
    assert [r.metric for r in readings(entity)] == ["temperature"]
    del entity["temperature"]["observedAt"]
    with pytest.raises(InvalidMessage, match="missing_timestamp"):
        readings(entity)  # no time anywhere: a clockless device must be visible


def test_ld_concise_format():
    entity = {"id": "d", "type": "T", "@context": [], "observedAt": "2025-01-01T00:00:00Z",
              "level": {"value": 3}, "owner": {"object": "urn:ngsi-ld:Person:1"}, "mode": "auto"}
    got = by_metric(entity)
    assert set(got) == {"level", "mode"} and got["level"].value == 3.0
