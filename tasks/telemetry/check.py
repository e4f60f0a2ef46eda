"""``knowledge-ingest telemetry check``: what the normaliser makes of messages in a file, offline.

A file holds one JSON message, or JSON lines (one message per line). Each message gives its
readings, the reason it would be dead-lettered, or the named reason it has no readings, exactly
as the consumer would decide. A message with rejected parts (``tasks.telemetry.normalise``) gives
the readings of its good parts, and one more result per rejected part, labelled ``LABEL at PATH``
(PATH is the DLQ's ``error_at`` header).

Exit status: 0 when nothing would be dead-lettered; 1 when anything would be, a whole message or
a part of one (a partly rejected message still prints its good parts' readings: the consumer
writes them); 2 when a file cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from tasks.telemetry.model import InvalidMessage, Limits, Reading
from tasks.telemetry.normalise import outcome


@dataclass(frozen=True)
class MessageCheck:
    label: str
    """``FILE`` for a whole-file message, ``FILE:LINE`` for a JSON line, plus `` at PATH`` for a part."""
    readings: list[Reading]
    rejection: InvalidMessage | None
    no_readings: str | None = None
    """The named reason when the message is valid but gives no readings."""
    at: str = ""
    """The rejected part's path; ``""`` for a result about the message itself."""


def messages_in(data: bytes) -> list[tuple[int | None, bytes]]:
    """(line number or None, message bytes): the whole file if it is one JSON value, else its lines."""
    try:
        orjson.loads(data)
        return [(None, data)]
    except orjson.JSONDecodeError:
        return [(n, line) for n, line in enumerate(data.splitlines(), start=1) if line.strip()]


def check(name: str, data: bytes, limits: Limits, now: datetime | None = None) -> list[MessageCheck]:
    now = now or datetime.now(timezone.utc)
    out = []
    for line, payload in messages_in(data):
        label = name if line is None else f"{name}:{line}"
        try:
            readings, bad, reason = outcome(payload, limits, now)
        except InvalidMessage as exc:
            out.append(MessageCheck(label, [], exc))
            continue
        out.append(MessageCheck(label, readings, None, reason))
        out += [MessageCheck(f"{label} at {p.at}", [], p.error, at=p.at) for p in bad]
    return out


def reading_record(label: str, reading: Reading) -> dict[str, Any]:
    """One reading as a JSON-lines record, tagged with the message it came from."""
    return {"message": label, **reading._asdict(), "time": reading.time.isoformat()}
