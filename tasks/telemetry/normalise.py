"""Message bytes -> readings, or ``InvalidMessage`` naming what was wrong and where.

The format is recognised from the message itself, not from the topic, so any topic may carry
any supported format. A message is all-or-nothing: one bad attribute rejects the whole message.
"""

from __future__ import annotations

from datetime import datetime

from tasks.telemetry import ngsi, opcua
from tasks.telemetry.model import InvalidMessage, Limits, Reading
from tasks.telemetry.validation import decode


def normalise(payload: bytes | None, limits: Limits, now: datetime) -> list[Reading]:
    doc = decode(payload, limits)
    if not isinstance(doc, dict):
        raise InvalidMessage("unknown_shape", f"top level is a JSON {type(doc).__name__}, not an object")
    if opcua.is_network_message(doc):
        return opcua.readings(doc, limits, now)
    if not doc.keys() & {"id", "type", "subscriptionId"}:
        raise InvalidMessage("unknown_shape", "neither an NGSI entity or notification nor an OPC UA message")
    out: list[Reading] = []
    for where, entity in ngsi.entities(doc):
        out.extend(ngsi.readings(entity, where, limits, now))
    return out
