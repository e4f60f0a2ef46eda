"""OPC UA PubSub JSON (Part 14) ``ua-data`` NetworkMessages -> readings.

Accepted: NetworkMessages (``Messages`` one DataSetMessage or an array), bare DataSetMessages
(no network header), and OPC Publisher's legacy samples mode (``{NodeId, Value: DataValue}``).
Payload fields may use the DataValue encoding (``{Value, SourceTimestamp, StatusCode}``), the
1.04 reversible Variant (``{Type, Body}``, Type as id or name), the 1.05 ``UaType`` encoding
(``{UaType, Value, StatusCode, SourceTimestamp}``) or raw JSON values. One reading per scalar
field; the entity is ``<PublisherId>/<DataSetWriterId>``. Every reading carries its status class
and StatusCode (Good/0 when omitted); a Bad value without a body is a status-only row. Each
DataSetMessage of a ``Messages`` array is accepted or rejected on its own (``parts``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasks.telemetry import validation as v
from tasks.telemetry.model import InvalidMessage, Limits, Part, Reading, part

SOURCE = "opcua"
BOOLEAN, STRING, INT64, UINT64 = 1, 12, 8, 9
NUMERIC = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11}  # SByte .. Double
FLOATS = {10, 11}
SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
BUILTIN_TYPES = range(1, 26)  # DateTime, Guid, ByteString, ... are valid but not readings
TYPE_NAMES = {
    name: i for i, name in enumerate((
        "Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float",
        "Double", "String", "DateTime", "Guid", "ByteString", "XmlElement", "NodeId", "ExpandedNodeId",
        "StatusCode", "QualifiedName", "LocalizedText", "ExtensionObject", "DataValue", "Variant",
        "DiagnosticInfo",
    ), start=1)
}
DATASET_KINDS = {"ua-keyframe", "ua-deltaframe", "ua-keepalive", "ua-event"}
STATUS_CLASSES = ("Good", "Uncertain", "Bad", "Bad")  # the top two bits of a StatusCode


def is_network_message(doc: dict[str, Any]) -> bool:
    return "MessageType" in doc or "Messages" in doc


def is_dataset_message(doc: dict[str, Any]) -> bool:
    """A DataSetMessage sent without a network header (an NGSI entity may name an attribute Payload)."""
    return "Payload" in doc and "id" not in doc


def is_sample(doc: dict[str, Any]) -> bool:
    """OPC Publisher's legacy samples mode: one monitored item per message."""
    return "NodeId" in doc and "Value" in doc and "id" not in doc


def parts(doc: dict[str, Any], at: str, limits: Limits, now: datetime) -> list[Part]:
    """Each DataSetMessage of a ``Messages`` array is a part of its own; any other OPC UA message
    is its only part. Raises for what spoils every DataSetMessage (``MessageType``, ``Messages``)."""
    prefix = f"{at}." if at else ""
    if is_sample(doc):
        return [Part(at, _sample(doc, prefix, limits, now))]
    if "Messages" not in doc and (is_dataset_message(doc) or doc.get("MessageType") in DATASET_KINDS):
        return [Part(at, _dataset_message({}, doc, f"{prefix}DataSetMessage", prefix, limits, now))]
    kind = doc.get("MessageType", "ua-data")
    if kind == "ua-metadata":  # describes the DataSet: no readings, counted as metadata_only
        return [Part(at, [])]
    if kind != "ua-data":
        raise InvalidMessage("unknown_shape", f"{_located(at)}OPC UA MessageType {kind!r} is not 'ua-data'")
    messages = doc.get("Messages")
    if isinstance(messages, dict):  # one DataSetMessage, not an array of them: the message is the part
        return [Part(at, _dataset_message(doc, messages, f"{prefix}Messages[0]", prefix, limits, now))]
    if not isinstance(messages, list):
        raise InvalidMessage("unknown_shape", f"{_located(at)}OPC UA 'Messages' must be an object or an array")
    paths = [f"{prefix}Messages[{i}]" for i in range(len(messages))]
    return [part(at, _dataset_message, doc, message, at, prefix, limits, now) for at, message in zip(paths, messages)]


def _located(at: str) -> str:
    return f"{at}: " if at else ""


def _dataset_message(doc, message, where, prefix, limits, now) -> list[Reading]:
    """``prefix``: the path of the network message ``doc``, whose header fields are fallbacks."""
    if not isinstance(message, dict):
        raise InvalidMessage("unknown_shape", f"{where}: a DataSetMessage must be an object")
    publisher = message.get("PublisherId", doc.get("PublisherId"))
    writer = message.get("DataSetWriterId", message.get("DataSetWriterName"))
    publisher_missing = publisher is None and not doc  # a bare DataSetMessage may name only its writer
    if publisher_missing:
        eid = None
    else:
        eid = publisher = v.entity_id(publisher, f"{where}.PublisherId", numeric_ok=True)
    if writer is not None:
        writer = v.entity_id(writer, f"{where}.DataSetWriterId", numeric_ok=True)
        eid = writer if eid is None else v.name(f"{publisher}/{writer}", where)
    class_id = message.get("DataSetClassId", doc.get("DataSetClassId"))
    etype = v.optional_text(class_id, f"{where}.DataSetClassId")
    stamp = message.get("Timestamp")
    message_time = v.parse_time(stamp, f"{where}.Timestamp", now, limits) if stamp is not None else None
    if message_time is None and doc.get("Timestamp") is not None:  # the network message's time
        message_time = v.parse_time(doc["Timestamp"], f"{prefix}Timestamp", now, limits)
    payload = message.get("Payload")
    if payload is None and message.get("MessageType") == "ua-keepalive":
        return []
    if publisher_missing and writer is None:
        raise InvalidMessage("missing_entity_id", f"{where}: no PublisherId and no DataSetWriterId")
    if not isinstance(payload, dict):
        raise InvalidMessage("unknown_shape", f"{where}.Payload must be an object")
    base = {"seq": message["SequenceNumber"]} if "SequenceNumber" in message else {}
    out = []
    for name, field in payload.items():
        reading = _field(field, f"{where}.Payload.{name}", name, eid, etype, base, message_time, limits, now)
        if reading is not None:
            out.append(reading)
    return out


def _sample(doc, prefix, limits, now) -> list[Reading]:
    """``{NodeId, Value: DataValue, ExtensionFields: {PublisherId}, ApplicationUri, EndpointUrl}``."""
    extension = doc.get("ExtensionFields") if isinstance(doc.get("ExtensionFields"), dict) else {}
    publisher = next(
        (x for x in (extension.get("PublisherId"), doc.get("PublisherId"), doc.get("ApplicationUri"),
                     doc.get("EndpointUrl")) if x is not None),
        None,
    )
    eid = v.entity_id(publisher, f"{prefix}PublisherId", numeric_ok=True)
    metric = v.entity_id(doc["NodeId"], f"{prefix}NodeId")
    stamp = doc.get("Timestamp")
    message_time = v.parse_time(stamp, f"{prefix}Timestamp", now, limits) if stamp is not None else None
    base = {"seq": doc["SequenceNumber"]} if "SequenceNumber" in doc else {}
    if isinstance(doc.get("DisplayName"), str):
        base["display_name"] = doc["DisplayName"]
    value = doc["Value"]
    is_data_value = isinstance(value, dict) and value.keys() & {"Value", "StatusCode", "SourceTimestamp"}
    field = value if is_data_value else {"Value": value}
    reading = _field(field, f"{prefix}Value", metric, eid, None, base, message_time, limits, now)
    return [] if reading is None else [reading]


def _field(field, at, name, eid, etype, base, message_time, limits, now) -> Reading | None:
    """One payload field -> a reading, or None when it is not a scalar (arrays, ByteString …)."""
    variant, stamps, status = _unpack(field, at)
    code = _status_code(status, at)
    parsed = _value(variant, at)
    if parsed is None and not (code >> 30 >= 2 and variant is None):
        return None
    value, ua_type = parsed if parsed is not None else ((None, None), None)  # Bad, no body: status only
    time = message_time
    for key, stamp in stamps:
        if stamp is not None:
            time = v.parse_time(stamp, f"{at}.{key}", now, limits)
            break
    if time is None:
        raise InvalidMessage("missing_timestamp", f"{at}: no SourceTimestamp, no message Timestamp")
    attrs = dict(base)
    if ua_type is not None:
        attrs["ua_type"] = ua_type
    status = STATUS_CLASSES[code >> 30]
    return Reading(time, SOURCE, eid, etype, v.name(name, at), *value, None, attrs or None, status, code)


def _unpack(field: Any, at: str) -> tuple[Any, list[tuple[str, Any]], Any]:
    """(variant, [(timestamp key, value)], StatusCode) from a DataValue, a Variant or a raw value."""
    if not isinstance(field, dict):
        return field, [], None
    if "Type" in field:
        return field, [], None
    stamps = [(k, field.get(k)) for k in ("SourceTimestamp", "ServerTimestamp")]
    if "UaType" in field:  # OPC UA 1.05: the DataValue's fields and the Variant's type side by side
        return {"Type": field["UaType"], "Body": field.get("Value")}, stamps, field.get("StatusCode")
    if field.keys() & {"Value", "SourceTimestamp", "ServerTimestamp", "StatusCode"}:
        value = field.get("Value")
        if isinstance(value, dict) and "UaType" in value:  # a 1.05 Variant inside a DataValue
            value = {"Type": value["UaType"], "Body": value.get("Value")}
        return value, stamps, field.get("StatusCode")
    raise InvalidMessage("unknown_shape", f"{at}: expected a DataValue, a Variant or a raw value")


def _status_code(status: Any, at: str) -> int:
    """A StatusCode as a number (reversible) or ``{Code, Symbol}`` (non-reversible, 1.05); 0 = Good."""
    if isinstance(status, dict):
        status = status.get("Code", 0)
    if status is None:
        return 0
    if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status < 2**32:
        raise InvalidMessage("wrong_type", f"{at}.StatusCode: expected a 32-bit unsigned code")
    return status


def _value(variant: Any, at: str) -> tuple[tuple[float | None, str | None], int | None] | None:
    """((value, value_text), built-in type id) or None when the field is not a scalar reading."""
    if not isinstance(variant, dict):
        parsed = v.scalar(variant)
        return None if parsed is None else (parsed, None)
    ua_type, body = variant.get("Type"), variant.get("Body")
    if isinstance(ua_type, str) and ua_type in TYPE_NAMES:  # e.g. "Type": "Double"
        ua_type = TYPE_NAMES[ua_type]
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
