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
TIME_ATTRS = (
    "TimeInstant", "observedAt", "dateObserved", "dateObservedTo", "dateObservedFrom",
    "observationDateTime", "timestamp",
)
NOT_READINGS = {"id", "type", "@context", "dateCreated", "dateModified", "createdAt", "modifiedAt"}
NOT_READINGS.update(TIME_ATTRS)
# Attributes that describe the entity rather than measure it: never readings, never a rejection.
DESCRIPTIVE = {"name", "alternateName", "description", "address", "location", "seeAlso"}

V2_TYPED: dict[str, Callable[[Any, str], float | str]] = {
    "Number": v.declared_number, "Integer": v.declared_number, "Float": v.declared_number,
    "Double": v.declared_number, "Text": v.text, "String": v.text, "Boolean": v.declared_boolean,
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
    if is_notification(doc):
        if not isinstance(doc["data"], list):
            raise InvalidMessage("unknown_shape", "notification 'data' is not a list")
        return [(f"data[{i}]", e) for i, e in enumerate(doc["data"])]
    return [("entity", doc)]


def is_notification(doc: dict[str, Any]) -> bool:
    return "subscriptionId" in doc and "data" in doc


def notification_time(doc: dict[str, Any], prefix: str, limits: Limits, now: datetime) -> datetime | None:
    """NGSI-LD ``notifiedAt``: the last fallback for attributes without any time of their own."""
    stamp = doc.get("notifiedAt") if is_notification(doc) else None
    return None if stamp is None else v.parse_time(stamp, f"{prefix}notifiedAt", now, limits)


def readings(
    entity: Any, where: str, limits: Limits, now: datetime,
    notified: datetime | None = None, ld_hint: bool = False,
) -> list[Reading]:
    """``ld_hint``: the notification around the entity is NGSI-LD (``@context`` / ``notifiedAt``)."""
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
    ld = ld_hint or "@context" in entity or any(
        _type(a) in LD_TYPES or (isinstance(a, dict) and "observedAt" in a) for a in attrs.values()
    )  # by structure only: `urn:ngsi-ld:` ids are common in NGSI-v2 too
    normalised = _ld if ld else _v2
    return normalised(eid, etype, attrs, where, limits, now, notified)


def _type(attr: Any) -> str | None:
    """An attribute's ``type`` when it is a string (payloads may put anything there)."""
    kind = attr.get("type") if isinstance(attr, dict) else None
    return kind if isinstance(kind, str) else None


def _entity_time(attrs, where, limits, now, notified=None) -> datetime | None:
    """The entity's observation time (an interval counts by its end), else the notification's."""
    for name in TIME_ATTRS:
        if name in attrs:
            raw = attrs[name]
            if isinstance(raw, dict):  # normalized attribute, maybe with an NGSI-LD typed literal
                raw = raw.get("value")
                if isinstance(raw, dict):
                    raw = raw.get("@value")
            return v.parse_time(raw, f"{where}.{name}", now, limits)
    return notified


def _timed(candidates: list[tuple[datetime | None, str, tuple]], entity_time, where) -> list[Reading]:
    """Readings from (own time, location, fields) candidates. Without any entity time, an attribute
    without its own time is a static property (a name, a capacity) when its siblings carry times;
    when none does, the entity has no time at all and is rejected."""
    if entity_time is None and candidates and all(own is None for own, _, _ in candidates):
        at = candidates[0][1]
        raise InvalidMessage("missing_timestamp", f"{at}: no observation time ({'/'.join(TIME_ATTRS)})")
    return [
        Reading(own or entity_time, *fields)
        for own, _, fields in candidates
        if own is not None or entity_time is not None
    ]


def _key_values(eid, etype, attrs, where, limits, now, notified=None) -> list[Reading]:
    """keyValues carry no metadata: no unit, one time for the whole entity."""
    entity_time = _entity_time(attrs, where, limits, now, notified)
    candidates = []
    for name, raw in attrs.items():
        if name in NOT_READINGS or name in DESCRIPTIVE or (parsed := v.scalar(raw)) is None:
            continue
        candidates.append((None, f"{where}.{name}", (SOURCE, eid, etype, v.name(name, where), *parsed, None, None)))
    return _timed(candidates, entity_time, where)


def _v2(eid, etype, attrs, where, limits, now, notified=None) -> list[Reading]:
    entity_time = _entity_time(attrs, where, limits, now, notified)
    candidates = []
    for name, attr in attrs.items():
        if name in NOT_READINGS or name in DESCRIPTIVE:
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
        fields = (SOURCE, eid, etype, v.name(name, where), *parsed, unit, extra or None)
        candidates.append((own_time or None, at, fields))
    return _timed(candidates, entity_time, where)


def _md(metadata: dict[str, Any], key: str) -> Any:
    """NGSI-v2 metadata are ``{type, value}`` objects; keep only the value."""
    item = metadata.get(key)
    return item.get("value") if isinstance(item, dict) else item


def _ld(eid, etype, attrs, where, limits, now, notified=None) -> list[Reading]:
    entity_time = _entity_time(attrs, where, limits, now, notified)
    candidates = []
    for name, attr in attrs.items():
        if name in NOT_READINGS or name in DESCRIPTIVE:
            continue
        at = f"{where}.{name}"
        if isinstance(attr, list):
            raise InvalidMessage("unknown_shape", f"{at}: multi-attribute (datasetId) values unsupported")
        if not isinstance(attr, dict):  # concise format: a plain value is a Property
            if (parsed := v.scalar(attr)) is not None:
                candidates.append((None, at, (SOURCE, eid, etype, v.name(name, where), *parsed, None, None)))
            continue
        kind = _type(attr)
        if kind is None and "type" not in attr:  # concise: the key names the kind
            kind = "Property" if "value" in attr else "Relationship" if "object" in attr else "JsonProperty"
        if kind not in LD_TYPES:
            raise InvalidMessage("unknown_shape", f"{at}: expected an NGSI-LD Property, Relationship, …")
        if kind in LD_CONTEXT:
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
        candidates.append((own_time, at, (SOURCE, eid, etype, v.name(name, where), *parsed, unit, extra or None)))
    return _timed(candidates, entity_time, where)
