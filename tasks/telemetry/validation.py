"""Checks shared by every normaliser: payload size, JSON syntax and depth, timestamps, value types.

Error details may quote the offending value: they go to the dead-letter headers, never to logs.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import orjson

from tasks.telemetry.model import InvalidMessage, Limits

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CONTAINERS = (dict, list)  # exactly what orjson produces
MAX_NAME = 256


def decode(payload: bytes | None, limits: Limits) -> Any:
    """Parse a message value, refusing what is empty, oversized, malformed or too deeply nested."""
    if not payload:
        raise InvalidMessage("empty", "message has no value")
    if len(payload) > limits.max_bytes:
        raise InvalidMessage("too_large", f"{len(payload)} bytes > limit {limits.max_bytes}")
    if b"\\u0000" in payload:
        raise InvalidMessage("invalid_text", "a string contains \\u0000 (NUL), which PostgreSQL cannot store")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc):
            raise InvalidMessage("too_deep", f"nesting deeper than {limits.max_depth}") from None
        raise InvalidMessage("invalid_json", str(exc)) from None
    if _deeper_than(doc, limits.max_depth):
        raise InvalidMessage("too_deep", f"nesting deeper than {limits.max_depth}")
    return doc


def _deeper_than(doc: Any, max_depth: int) -> bool:
    """Level by level, without recursion; a scalar has depth 0, ``{}`` depth 1."""
    level = [doc] if type(doc) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) in _CONTAINERS
        ]
    return False


def parse_time(value: Any, where: str, now: datetime, limits: Limits) -> datetime:
    """ISO 8601 -> aware UTC datetime; a timestamp without offset is taken as UTC.

    Before 1970 usually means an unset device clock (OPC UA's ``0001-01-01``), and more than
    ``limits.max_future`` ahead of ``now`` a wrong clock or time zone: both are rejected.
    """
    if not isinstance(value, str):
        raise InvalidMessage("bad_timestamp", f"{where}: expected an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMessage("bad_timestamp", f"{where}: {value!r} is not ISO 8601") from None
    parsed = parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    if parsed < EPOCH:
        raise InvalidMessage("bad_timestamp", f"{where}: {value!r} is before 1970 (unset clock?)")
    if parsed > now + limits.max_future:
        raise InvalidMessage(
            "future_timestamp", f"{where}: {value!r} is more than {limits.max_future} in the future"
        )
    return parsed


def number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidMessage("wrong_type", f"{where}: expected a number, got {_kind(value)}")
    return float(value)


def declared_number(value: Any, where: str) -> float:
    """A number, or a string holding one: IoT Agents send ``{"type": "Integer", "value": "1"}``."""
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            raise InvalidMessage("wrong_type", f"{where}: {value[:40]!r} cannot be read as a number") from None
        if not math.isfinite(parsed):
            raise InvalidMessage("wrong_type", f"{where}: {value[:40]!r} is not a finite number")
        return parsed
    return number(value, where)


def declared_boolean(value: Any, where: str) -> float:
    """A boolean, or the strings ``"true"`` / ``"false"`` (IoT Agent output)."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return 1.0 if value.strip().lower() == "true" else 0.0
    return boolean(value, where)


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidMessage("wrong_type", f"{where}: expected a string, got {_kind(value)}")
    return value


def boolean(value: Any, where: str) -> float:
    if not isinstance(value, bool):
        raise InvalidMessage("wrong_type", f"{where}: expected a boolean, got {_kind(value)}")
    return 1.0 if value else 0.0


def scalar(value: Any) -> tuple[float | None, str | None] | None:
    """(value, value_text) inferred from JSON; None for null and structured values (not readings)."""
    if isinstance(value, bool):
        return (1.0 if value else 0.0), None
    if isinstance(value, (int, float)):
        return float(value), None
    if isinstance(value, str):
        return None, value
    return None


def entity_id(value: Any, where: str, *, numeric_ok: bool = False) -> str:
    """A non-empty string id; OPC UA PublisherIds may also be unsigned integers (``numeric_ok``)."""
    if value is None:
        raise InvalidMessage("missing_entity_id", f"{where}: no entity id")
    allowed = (str, int) if numeric_ok else str
    if isinstance(value, bool) or not isinstance(value, allowed) or value == "":
        raise InvalidMessage("wrong_type", f"{where}: entity id must be a non-empty string")
    return name(str(value), where)


def name(value: str, where: str) -> str:
    """Ids and metric names are index keys: bounded like Orion's (256), far below btree's row limit."""
    if len(value) > MAX_NAME:
        raise InvalidMessage("wrong_type", f"{where}: longer than {MAX_NAME} characters")
    return value


def optional_text(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidMessage("wrong_type", f"{where}: expected a string")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
