"""The normalised reading and the error every rejected message carries (DESIGN.md, telemetry row)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

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


class InvalidMessage(ValueError):
    """A message that cannot become readings; ``code`` is a stable reason for the dead-letter topic.

    Codes: empty, too_large, invalid_json, too_deep, unknown_shape, missing_entity_id,
    missing_timestamp, bad_timestamp, future_timestamp, wrong_type, invalid_text (and
    ``unexpected``, given by the consumer when the normaliser itself fails).
    """

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Limits:
    """Bounds that protect the consumer from hostile or broken producers."""

    max_bytes: int = 512 * 1024
    max_depth: int = 32
    max_future: timedelta = timedelta(hours=1)
