"""FIWARE NGSI-v2 (normalized and keyValues) and NGSI-LD (normalized) entities -> readings.

Each scalar attribute (number, text, boolean as 0/1) becomes one reading. Entity context that is
not a measurement (geo, structured values, relationships, date attributes) is not a reading.
The format is told by shape and anything ambiguous is rejected rather than guessed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from tasks.telemetry import validation as v
from tasks.telemetry.model import InvalidMessage, Limits, Reading

SOURCE = "fiware"
# Entity-level observation time, in order of preference (IoT Agent, NGSI-LD, Smart Data Models).
TIME_ATTRS = ("TimeInstant", "observedAt", "dateObserved", "timestamp")
NOT_READINGS = {"id", "type", "@context", "dateCreated", "dateModified", "createdAt", "modifiedAt"}
NOT_READINGS.update(TIME_ATTRS)

V2_TYPED: dict[str, Callable[[Any, str], float | str]] = {
    "Number": v.number, "Integer": v.number, "Float": v.number, "Double": v.number,
    "Text": v.text, "String": v.text, "Boolean": v.boolean,
}
V2_CONTEXT = {"DateTime", "StructuredValue", "Relationship", "Array", "Object", "geo:json"}
V2_ATTR_TIME = ("TimeInstant", "timestamp")

LD_CONTEXT = {
    "GeoProperty", "Relationship", "LanguageProperty", "VocabProperty",
    "ListProperty", "ListRelationship", "JsonProperty",
}
LD_TYPES = LD_CONTEXT | {"Property"}


def entities(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """A single entity, or the ``data`` list of an Orion / NGSI-LD subscription notification."""
    if "subscriptionId" in doc and "data" in doc:
        if not isinstance(doc["data"], list):
            raise InvalidMessage("unknown_shape", "notification 'data' is not a list")
        return [(f"data[{i}]", e) for i, e in enumerate(doc["data"])]
    return [("entity", doc)]


def readings(entity: Any, where: str, limits: Limits, now: datetime) -> list[Reading]:
    if not isinstance(entity, dict):
        raise InvalidMessage("unknown_shape", f"{where}: an NGSI entity must be a JSON object")
    eid = v.entity_id(entity.get("id"), where)
    etype = entity.get("type")
    if isinstance(etype, list):  # NGSI-LD allows several types
        etype = ",".join(map(str, etype))
    etype = v.optional_text(etype, f"{where}.type")
    attrs = {k: a for k, a in entity.items() if k not in ("id", "type", "@context")}
    wrapped = [isinstance(a, dict) and ("value" in a or "object" in a) for a in attrs.values()]
    if not any(wrapped):
        return _key_values(eid, etype, attrs, where, limits, now)
    ld = "@context" in entity or eid.startswith("urn:ngsi-ld:") or any(
        _type(a) in LD_TYPES for a in attrs.values()
    )
    normalised = _ld if ld else _v2
    return normalised(eid, etype, attrs, where, limits, now)


def _type(attr: Any) -> str | None:
    """An attribute's ``type`` when it is a string (payloads may put anything there)."""
    kind = attr.get("type") if isinstance(attr, dict) else None
    return kind if isinstance(kind, str) else None


def _entity_time(attrs: dict[str, Any], where: str, limits: Limits, now: datetime) -> datetime | None:
    for name in TIME_ATTRS:
        if name in attrs:
            raw = attrs[name]
            if isinstance(raw, dict):  # normalized attribute, maybe with an NGSI-LD typed literal
                raw = raw.get("value")
                if isinstance(raw, dict):
                    raw = raw.get("@value")
            return v.parse_time(raw, f"{where}.{name}", now, limits)
    return None


def _require_time(own: datetime | None, entity_time: datetime | None, where: str) -> datetime:
    if own is not None:
        return own
    if entity_time is None:
        raise InvalidMessage("missing_timestamp", f"{where}: no observation time ({'/'.join(TIME_ATTRS)})")
    return entity_time


def _key_values(eid, etype, attrs, where, limits, now) -> list[Reading]:
    """keyValues carry no metadata: no unit, one time for the whole entity."""
    entity_time = _entity_time(attrs, where, limits, now)
    out = []
    for name, raw in attrs.items():
        if name in NOT_READINGS or (parsed := v.scalar(raw)) is None:
            continue
        time = _require_time(None, entity_time, f"{where}.{name}")
        out.append(Reading(time, SOURCE, eid, etype, v.name(name, where), *parsed, None, None))
    return out


def _v2(eid, etype, attrs, where, limits, now) -> list[Reading]:
    entity_time = _entity_time(attrs, where, limits, now)
    out = []
    for name, attr in attrs.items():
        if name in NOT_READINGS:
            continue
        at = f"{where}.{name}"
        if not isinstance(attr, dict) or "value" not in attr:
            raise InvalidMessage("unknown_shape", f"{at}: expected an NGSI-v2 attribute {{type, value}}")
        atype, raw = v.optional_text(attr.get("type"), f"{at}.type"), attr["value"]
        metadata = attr.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidMessage("wrong_type", f"{at}.metadata: expected an object")
        if raw is None or atype in V2_CONTEXT or (atype or "").startswith("geo:"):
            continue
        if atype in V2_TYPED:
            checked = V2_TYPED[atype](raw, f"{at}.value")
            parsed = (None, checked) if isinstance(checked, str) else (checked, None)
        elif (parsed := v.scalar(raw)) is None:
            continue
        key = next((k for k in V2_ATTR_TIME if k in metadata), None)
        own_time = key and v.parse_time(_md(metadata, key), f"{at}.metadata.{key}", now, limits)
        unit = v.optional_text(_md(metadata, "unitCode"), f"{at}.metadata.unitCode")
        extra = {k: _md(metadata, k) for k in metadata if k not in ("unitCode", *V2_ATTR_TIME)}
        time = _require_time(own_time, entity_time, at)
        out.append(Reading(time, SOURCE, eid, etype, v.name(name, where), *parsed, unit, extra or None))
    return out


def _md(metadata: dict[str, Any], key: str) -> Any:
    """NGSI-v2 metadata are ``{type, value}`` objects; keep only the value."""
    item = metadata.get(key)
    return item.get("value") if isinstance(item, dict) else item


def _ld(eid, etype, attrs, where, limits, now) -> list[Reading]:
    entity_time = _entity_time(attrs, where, limits, now)
    out = []
    for name, attr in attrs.items():
        if name in NOT_READINGS:
            continue
        at = f"{where}.{name}"
        if isinstance(attr, list):
            raise InvalidMessage("unknown_shape", f"{at}: multi-attribute (datasetId) values unsupported")
        if _type(attr) not in LD_TYPES:
            raise InvalidMessage("unknown_shape", f"{at}: expected an NGSI-LD Property, Relationship, …")
        if attr["type"] in LD_CONTEXT:
            continue
        if "value" not in attr:
            raise InvalidMessage("unknown_shape", f"{at}: Property without 'value'")
        raw = attr["value"]
        if isinstance(raw, dict) and "@value" in raw:  # typed literal; dates are context
            raw = None if raw.get("@type") == "DateTime" else raw["@value"]
        if (parsed := v.scalar(raw)) is None:
            continue
        observed = attr.get("observedAt")
        own_time = v.parse_time(observed, f"{at}.observedAt", now, limits) if observed is not None else None
        unit = v.optional_text(attr.get("unitCode"), f"{at}.unitCode")
        extra = {k: x for k, x in attr.items() if k not in ("type", "value", "unitCode", "observedAt")}
        time = _require_time(own_time, entity_time, at)
        out.append(Reading(time, SOURCE, eid, etype, v.name(name, where), *parsed, unit, extra or None))
    return out
