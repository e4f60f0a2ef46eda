"""OPC UA PubSub JSON (Part 14) ``ua-data`` NetworkMessages -> readings.

``Messages`` is one DataSetMessage object or an array of them. Payload fields may use the
DataValue encoding (``{Value, SourceTimestamp, StatusCode}``), the Variant encoding
(``{Type, Body}``) or raw JSON values. One reading per scalar field; the entity is
``<PublisherId>/<DataSetWriterId>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasks.telemetry import validation as v
from tasks.telemetry.model import InvalidMessage, Limits, Reading

SOURCE = "opcua"
BOOLEAN, STRING, INT64, UINT64 = 1, 12, 8, 9
NUMERIC = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11}  # SByte .. Double
FLOATS = {10, 11}
SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
BUILTIN_TYPES = range(1, 26)  # DateTime, Guid, ByteString, ... are valid but not readings


def is_network_message(doc: dict[str, Any]) -> bool:
    return "MessageType" in doc or "Messages" in doc


def readings(doc: dict[str, Any], limits: Limits, now: datetime) -> list[Reading]:
    kind = doc.get("MessageType")
    if kind != "ua-data":
        raise InvalidMessage("unknown_shape", f"OPC UA MessageType {kind!r} is not 'ua-data'")
    messages = doc.get("Messages")
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list):
        raise InvalidMessage("unknown_shape", "OPC UA 'Messages' must be an object or an array")
    out: list[Reading] = []
    for i, message in enumerate(messages):
        out.extend(_dataset_message(doc, message, f"Messages[{i}]", limits, now))
    return out


def _dataset_message(doc, message, where, limits, now) -> list[Reading]:
    if not isinstance(message, dict):
        raise InvalidMessage("unknown_shape", f"{where}: a DataSetMessage must be an object")
    publisher = message.get("PublisherId", doc.get("PublisherId"))
    publisher = v.entity_id(publisher, f"{where}.PublisherId", numeric_ok=True)
    eid = publisher
    if (writer := message.get("DataSetWriterId")) is not None:
        writer = v.entity_id(writer, f"{where}.DataSetWriterId", numeric_ok=True)
        eid = v.name(f"{publisher}/{writer}", where)
    class_id = message.get("DataSetClassId", doc.get("DataSetClassId"))
    etype = v.optional_text(class_id, f"{where}.DataSetClassId")
    stamp = message.get("Timestamp")
    message_time = v.parse_time(stamp, f"{where}.Timestamp", now, limits) if stamp is not None else None
    payload = message.get("Payload")
    if payload is None and message.get("MessageType") == "ua-keepalive":
        return []
    if not isinstance(payload, dict):
        raise InvalidMessage("unknown_shape", f"{where}.Payload must be an object")
    base = {"seq": message["SequenceNumber"]} if "SequenceNumber" in message else {}
    out = []
    for name, field in payload.items():
        at = f"{where}.Payload.{name}"
        variant, stamp, status = _unpack(field, at)
        parsed = _value(variant, at)
        if parsed is None:
            continue
        value, ua_type = parsed
        time = message_time if stamp is None else v.parse_time(stamp, f"{at}.SourceTimestamp", now, limits)
        if time is None:
            raise InvalidMessage("missing_timestamp", f"{at}: no SourceTimestamp, no message Timestamp")
        attrs = dict(base)
        if ua_type is not None:
            attrs["ua_type"] = ua_type
        if status not in (None, 0):
            attrs["status"] = status
        out.append(Reading(time, SOURCE, eid, etype, v.name(name, at), *value, None, attrs or None))
    return out


def _unpack(field: Any, at: str) -> tuple[Any, Any, Any]:
    """(variant, SourceTimestamp, StatusCode) from a DataValue, a Variant or a raw value."""
    if not isinstance(field, dict):
        return field, None, None
    if "Type" in field:
        return field, None, None
    if field.keys() & {"Value", "SourceTimestamp", "StatusCode"}:
        return field.get("Value"), field.get("SourceTimestamp"), field.get("StatusCode")
    raise InvalidMessage("unknown_shape", f"{at}: expected a DataValue, a Variant or a raw value")


def _value(variant: Any, at: str) -> tuple[tuple[float | None, str | None], int | None] | None:
    """((value, value_text), built-in type id) or None when the field is not a scalar reading."""
    if not isinstance(variant, dict):
        parsed = v.scalar(variant)
        return None if parsed is None else (parsed, None)
    ua_type, body = variant.get("Type"), variant.get("Body")
    if isinstance(ua_type, bool) or not isinstance(ua_type, int):
        raise InvalidMessage("wrong_type", f"{at}.Type: expected a built-in type id")
    if ua_type not in BUILTIN_TYPES:
        raise InvalidMessage("unknown_shape", f"{at}.Type: {ua_type} is not an OPC UA built-in type")
    if body is None or isinstance(body, list) or not (ua_type in NUMERIC or ua_type in (BOOLEAN, STRING)):
        return None  # null, arrays and non-scalar built-ins are not readings
    if ua_type == BOOLEAN:
        return (v.boolean(body, f"{at}.Body"), None), ua_type
    if ua_type == STRING:
        return (None, v.text(body, f"{at}.Body")), ua_type
    if ua_type in (INT64, UINT64) and isinstance(body, str):  # 64-bit integers travel as strings
        try:
            return (float(int(body)), None), ua_type
        except (ValueError, OverflowError):
            raise InvalidMessage("wrong_type", f"{at}.Body: {body!r} is not an integer") from None
    if ua_type in FLOATS and isinstance(body, str) and body in SPECIAL_FLOATS:
        return (SPECIAL_FLOATS[body], None), ua_type
    return (v.number(body, f"{at}.Body"), None), ua_type
