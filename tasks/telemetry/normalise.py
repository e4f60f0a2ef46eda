"""Message bytes -> its parts, each with its readings or the ``InvalidMessage`` naming what was
wrong and where.

The format is recognised from the message's structure, not from the topic or an id prefix, so any
topic may carry any supported format. The unit of rejection is the smallest meaningful one: an
element of an array that bundles independent sources is a part, accepted or rejected on its own,
so that one bad entity does not cost its siblings their readings. Parts are the entities of an NGSI
notification's ``data`` (``data[2]``), the elements of a top-level JSON array (an OPC Publisher
batch, ``[1]``) and the DataSetMessages of a ``Messages`` array (``Messages[0]``); they nest
(``[1].Messages[0]``). Any other message (one entity, one sample, a NetworkMessage whose
``Messages`` is one object) is its own only part, at ``""``.

``normalise`` raises ``InvalidMessage`` only for what spoils the whole message: it cannot be
decoded (empty, too large, not JSON, too deep), its top level has an unknown shape, or a field all
its parts depend on is bad (the notification's ``notifiedAt`` or ``data``, the NetworkMessage's
``MessageType`` or ``Messages``). Inside a batch, the same faults reject just that element. A valid
message without readings is counted under a named reason (``no_readings_reason``), so every
message is accounted for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from tasks.telemetry import ngsi, opcua
from tasks.telemetry.model import InvalidMessage, Limits, Part, Reading, part
from tasks.telemetry.validation import decode


class Outcome(NamedTuple):
    """What the consumer does with a message that is not rejected whole."""

    readings: list[Reading]
    """The readings of its good parts: written."""
    rejected: list[Part]
    """Its bad parts: one dead letter each."""
    no_readings: str | None
    """The named reason when it has neither readings nor rejected parts."""


def outcome(payload: bytes | None, limits: Limits, now: datetime) -> Outcome:
    """Raises ``InvalidMessage`` when the message is rejected whole (see ``normalise``)."""
    parts = normalise(payload, limits, now)
    if len(parts) == 1 and parts[0].readings:  # the common case, kept cheap: the consumer's hot path
        return Outcome(parts[0].readings, [], None)
    readings = [r for p in parts for r in p.readings]
    rejected = [p for p in parts if p.error is not None]
    reason = None if readings or rejected else no_readings_reason(payload, limits)
    return Outcome(readings, rejected, reason)


def normalise(payload: bytes | None, limits: Limits, now: datetime) -> list[Part]:
    doc = decode(payload, limits)
    if not isinstance(doc, list):
        return _document(doc, "", limits, now)
    if not doc:
        raise InvalidMessage("unknown_shape", "top level is an empty JSON array")
    out: list[Part] = []
    for i, item in enumerate(doc):
        try:
            out.extend(_document(item, f"[{i}]", limits, now))
        except InvalidMessage as exc:  # spoils this element only
            out.append(Part(f"[{i}]", [], exc))
    return out


def _document(doc: Any, at: str, limits: Limits, now: datetime) -> list[Part]:
    """The parts of the JSON document at ``at``; raises for what spoils all of them."""
    located = f"{at}: " if at else ""
    if not isinstance(doc, dict):
        raise InvalidMessage("unknown_shape", f"{located}top level is a JSON {type(doc).__name__}, not an object")
    if opcua.is_network_message(doc) or opcua.is_dataset_message(doc) or opcua.is_sample(doc):
        return opcua.parts(doc, at, limits, now)
    if not doc.keys() & {"id", "type", "subscriptionId"}:
        raise InvalidMessage(
            "unknown_shape", f"{located}neither an NGSI entity or notification nor an OPC UA message"
        )
    if not ngsi.is_notification(doc):
        return [Part(at, ngsi.readings(doc, at or "entity", limits, now))]
    prefix = f"{at}." if at else ""
    notified = ngsi.notification_time(doc, prefix, limits, now)
    ld_hint = "@context" in doc or "notifiedAt" in doc
    return [
        part(prefix + where, ngsi.readings, entity, prefix + where, limits, now, notified, ld_hint)
        for where, entity in ngsi.entities(doc)
    ]


NO_READINGS_REASONS = ("only_structured_values", "keep_alive", "no_entities", "metadata_only")


def no_readings_reason(payload: bytes, limits: Limits) -> str:
    """Why a message gave no readings, none of its parts being rejected (called only then, so it
    may decode again):
    ``keep_alive`` (OPC UA keep-alives, empty payloads), ``metadata_only`` (``ua-metadata``, entities
    holding only descriptive or static attributes), ``only_structured_values`` (geo, structured,
    relationships, arrays, non-scalar OPC UA types) or ``no_entities`` (a notification with none)."""
    doc = decode(payload, limits)
    found = {_reason(item) for item in (doc if isinstance(doc, list) else [doc])}
    return next(reason for reason in NO_READINGS_REASONS if reason in found)


def _reason(doc: dict[str, Any]) -> str:
    if opcua.is_sample(doc):
        return "only_structured_values"
    if opcua.is_network_message(doc) or opcua.is_dataset_message(doc):
        if doc.get("MessageType") == "ua-metadata":
            return "metadata_only"
        messages = doc.get("Messages", doc)
        messages = messages if isinstance(messages, list) else [messages]
        payloads = [m.get("Payload") for m in messages if isinstance(m, dict)]
        return "only_structured_values" if any(p for p in payloads) else "keep_alive"
    entities = [e for _, e in ngsi.entities(doc)]
    if not entities:
        return "no_entities"
    structured = any(
        isinstance(value, (list, dict)) and not _scalar_attribute(value)
        for entity in entities
        for name, value in entity.items()
        if name not in ngsi.NOT_READINGS and name not in ngsi.DESCRIPTIVE
    )
    return "only_structured_values" if structured else "metadata_only"


def _scalar_attribute(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and not isinstance(value["value"], (list, dict))
