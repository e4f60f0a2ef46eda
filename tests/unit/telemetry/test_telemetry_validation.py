"""Every way a message can be bad -> InvalidMessage with the right code and a precise location."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from tasks.telemetry.model import InvalidMessage, Limits
from tasks.telemetry.normalise import normalise, outcome

FIXTURES = Path(__file__).parents[2] / "fixtures" / "telemetry"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
V2 = orjson.loads((FIXTURES / "example-normalized.json").read_bytes())
LD = orjson.loads((FIXTURES / "example-normalized.jsonld").read_bytes())
UA = orjson.loads((FIXTURES / "message-full.json").read_bytes())


def changed(doc: dict, path: tuple, value=None, *, drop: bool = False) -> bytes:
    doc = orjson.loads(orjson.dumps(doc))
    node = doc
    for key in path[:-1]:
        node = node[key]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return orjson.dumps(doc)


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


CASES = {
    "empty": (b"", "empty", "no value"),
    "oversized": (b'{"id": "x", "pad": "' + b"x" * 600_000 + b'"}', "too_large", "> limit 524288"),
    "truncated json": (orjson.dumps(V2)[:100], "invalid_json", "line"),
    "not utf-8": (b'{"id": "\xff"}', "invalid_json", ""),
    "nested beyond our bound": (nested(40), "too_deep", "deeper than 32"),
    "nested beyond the parser": (b"[" * 100_000 + b"]" * 100_000, "too_deep", "deeper than 32"),
    "not an object": (orjson.dumps(orjson.dumps(V2).decode()), "unknown_shape", "top level is a JSON str"),
    "empty array": (b"[]", "unknown_shape", "empty JSON array"),
    "unrecognised object": (b'{"temperature": 21.5}', "unknown_shape", "neither"),
    "ua unknown MessageType": (changed(UA, ("MessageType",), "ua-chunk"), "unknown_shape", "'ua-chunk'"),
    "ua Messages not a list": (changed(UA, ("Messages",), 5), "unknown_shape", "'Messages'"),
    "ua unknown type id": (changed(UA, ("Messages", "Payload", "Temperature", "Value", "Type"), 99),
                           "unknown_shape", "Temperature.Type"),
    "ld attribute of unknown type": (changed(LD, ("co", "type"), "Quantity"), "unknown_shape", "entity.co"),
    "v2 mixed with keyValues": (changed(V2, ("co",), 500), "unknown_shape", "entity.co"),
    "v2 without id": (changed(V2, ("id",), drop=True), "missing_entity_id", "entity"),
    "ua without PublisherId": (changed(UA, ("PublisherId",), drop=True), "missing_entity_id", "PublisherId"),
    "v2 id is a number": (changed(V2, ("id",), 28079004), "wrong_type", "entity id"),
    "v2 Number carrying text": (changed(V2, ("co", "value"), "five hundred"), "wrong_type", "cannot be read as a number"),
    "v2 Integer carrying text": (changed(V2, ("co",), {"type": "Integer", "value": "1 ppm"}), "wrong_type", "entity.co.value"),
    "v2 Boolean carrying a number": (changed(V2, ("precipitation", "value"), 0), "wrong_type", "precipitation"),
    "v2 unitCode not text": (changed(V2, ("co", "metadata", "unitCode", "value"), 7), "wrong_type", "unitCode"),
    "ua Double carrying text": (changed(UA, ("Messages", "Payload", "Temperature", "Value", "Body"), "hot"),
                                "wrong_type", "Temperature.Body"),
    "ua Boolean carrying a number": (changed(UA, ("Messages", "Payload", "Setpoint", "Value"), {"Type": 1, "Body": 1}),
                                     "wrong_type", "Setpoint.Body"),
    "NUL in a string": (changed(V2, ("areaServed", "value"), "Brook\u0000lands"), "invalid_text", "NUL"),
    "id too long for an index key": (changed(V2, ("id",), "x" * 257), "wrong_type", "longer than 256"),
    "ua DataSetClassId not text": (changed(UA, ("DataSetClassId",), {"id": 1}), "wrong_type", "DataSetClassId"),
    "ua Int64 beyond a double": (changed(UA, ("Messages", "Payload", "Setpoint", "Value"), {"Type": 8, "Body": "9" * 400}),
                                 "wrong_type", "Setpoint.Body"),
    "v2 without any time": (changed(V2, ("dateObserved",), drop=True), "missing_timestamp", "entity.areaServed"),
    "ua without SourceTimestamp": (changed(UA, ("Messages", "Payload", "Setpoint", "SourceTimestamp"), drop=True),
                                   "missing_timestamp", "Setpoint"),
    "unparseable time": (changed(V2, ("dateObserved", "value"), "15/03/2016 11:00"), "bad_timestamp", "dateObserved"),
    "time is a number": (changed(LD, ("dateObserved", "value"), 1458039600), "bad_timestamp", "dateObserved"),
    "OPC UA unset clock": (changed(UA, ("Messages", "Payload", "Setpoint", "SourceTimestamp"), "0001-01-01T00:00:00Z"),
                           "bad_timestamp", "before 1970"),
    "far future": (changed(V2, ("dateObserved", "value"), "2026-01-01T02:00:00Z"), "future_timestamp", "dateObserved"),
}


@pytest.mark.parametrize("payload, code, detail", CASES.values(), ids=CASES.keys())
def test_rejected_with_reason(payload, code, detail):
    with pytest.raises(InvalidMessage) as caught:
        normalise(payload, Limits(), NOW)
    assert caught.value.code == code
    assert detail in caught.value.detail


def test_future_bound_comes_from_limits():
    payload = changed(V2, ("dateObserved", "value"), "2026-01-01T00:30:00Z")
    assert outcome(payload, Limits(), NOW).readings  # 30 min ahead is within the default hour
    with pytest.raises(InvalidMessage, match="future_timestamp"):
        normalise(payload, Limits(max_future=timedelta(minutes=10)), NOW)


def test_size_and_depth_bounds_come_from_limits():
    payload = orjson.dumps(V2)
    with pytest.raises(InvalidMessage, match="too_large"):
        normalise(payload, Limits(max_bytes=len(payload) - 1), NOW)
    with pytest.raises(InvalidMessage, match="too_deep"):
        normalise(payload, Limits(max_depth=3), NOW)  # location.value.coordinates is at depth 4
    assert outcome(payload, Limits(max_bytes=len(payload), max_depth=4), NOW).readings


def test_entity_with_only_context_yields_no_readings():
    doc = {"id": "x", "type": "T", "dateObserved": "2020-01-01T00:00:00Z", "location": {"type": "Point", "coordinates": [0, 0]}}
    assert outcome(orjson.dumps(doc), Limits(), NOW) == ([], [], "metadata_only")
