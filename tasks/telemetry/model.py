"""The normalised reading, the error every rejection carries, and the part of a message that is
the unit of rejection (DESIGN.md, telemetry row)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, NamedTuple

Logger = logging.Logger | logging.LoggerAdapter


class Reading(NamedTuple):
    """One measurement; Kafka lineage and ``ingested_at`` are added by the sink."""

    time: datetime
    source: str
    entity_id: str
    entity_type: str | None
    metric: str
    value: float | None
    value_text: str | None
    unit: str | None
    attrs: dict[str, Any] | None
    status: str | None = None
    """OPC UA status class (Good, Uncertain, Bad); None where the protocol has none (NGSI)."""
    status_code: int | None = None
    """The OPC UA StatusCode (0 = Good); with ``status``, kept so a Bad value is never mistaken for data."""


class InvalidMessage(ValueError):
    """A message, or a part of one, that cannot become readings; ``code`` is a stable reason for the
    dead-letter topic.

    Codes: empty, too_large, invalid_json, too_deep, unknown_shape, missing_entity_id,
    missing_timestamp, bad_timestamp, future_timestamp, wrong_type, invalid_text (and
    ``unexpected``, given by the consumer when the normaliser itself fails).
    """

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class Part(NamedTuple):
    """One independently accepted or rejected piece of a message (see ``tasks.telemetry.normalise``)."""

    at: str
    """Its path in the message (``data[2]``, ``[1].Messages[0]``); ``""`` when the message is its only part."""
    readings: list[Reading]
    error: InvalidMessage | None = None
    """Why the part is dead-lettered (its readings are then empty)."""


def part(at: str, read: Callable[..., list[Reading]], *args: Any) -> Part:
    """``read(*args)`` as the part at ``at``: its readings, or its rejection, leaving its siblings alone."""
    try:
        return Part(at, read(*args))
    except InvalidMessage as exc:
        return Part(at, [], exc)


@dataclass(frozen=True)
class Limits:
    """Bounds that protect the consumer from hostile or broken producers."""

    max_bytes: int = 512 * 1024
    max_depth: int = 32
    max_future: timedelta = timedelta(hours=1)
