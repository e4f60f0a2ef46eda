"""Hostile input never crashes the normaliser, and a crash would not stop the consumer."""

from __future__ import annotations

import copy
import logging
import random
from datetime import datetime, timezone
from pathlib import Path

import orjson

from tasks.telemetry import consumer
from tasks.telemetry.model import InvalidMessage, Limits
from tasks.telemetry.normalise import normalise, outcome
from tasks.telemetry.simulator import generate

FIXTURES = Path(__file__).parents[2] / "fixtures" / "telemetry"
NOW = datetime.now(timezone.utc)
ODD_VALUES = [
    None, True, 0, -1, 1.5, 1e20, "", "x", "NaN", "2020-01-01T00:00:00Z", [], [1], {}, {"a": 1},
    {"value": 1}, {"type": {}}, {"type": []}, {"type": "Property"}, {"type": "Number", "value": {}},
    {"Type": 11}, {"Type": "11", "Body": 1}, {"Type": 9, "Body": "x1"}, {"Value": {}}, {"@value": 1},
]


def _paths(node, path=()):
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, path + (key,))


def test_mutated_messages_only_ever_raise_invalid_message():
    rng = random.Random(11)
    docs = [orjson.loads((FIXTURES / n).read_bytes()) for n in sorted(p.name for p in FIXTURES.glob("*.json*"))]
    docs += [orjson.loads(m.value) for m in generate(devices=8, messages=8, seed=5)]
    for doc in docs:
        for _ in range(250):
            mutated = copy.deepcopy(doc)
            *parents, last = rng.choice([p for p in _paths(mutated) if p])
            node = mutated
            for key in parents:
                node = node[key]
            if isinstance(node, dict) and rng.random() < 0.2:
                del node[last]
            else:
                node[last] = copy.deepcopy(rng.choice(ODD_VALUES))
            try:
                normalise(orjson.dumps(mutated), Limits(), NOW)
            except InvalidMessage:
                pass


class _Message:
    """The four accessors of a confluent_kafka.Message that ``prepare`` uses."""

    def __init__(self, offset: int, value: bytes):
        self._offset, self._value = offset, value

    def topic(self):
        return "t"

    def partition(self):
        return 0

    def offset(self):
        return self._offset

    def value(self):
        return self._value


def test_a_normaliser_crash_is_dead_lettered_not_raised(monkeypatch):
    def crash(payload, limits, now):
        if payload == b"boom":
            raise ZeroDivisionError("division by zero")
        return outcome(payload, limits, now)

    monkeypatch.setattr(consumer, "outcome", crash)
    good = (FIXTURES / "message-full.json").read_bytes()
    batch = consumer.prepare([_Message(0, good), _Message(1, b"boom")], Limits(), logging.getLogger("t"))
    assert len(batch.rows) == 2
    [(message, error, at)] = batch.rejected
    assert message.offset() == 1 and error.code == "unexpected" and "ZeroDivisionError" in error.detail
    assert at == ""  # dead-lettered whole
    assert [(tp.topic, tp.partition, tp.offset) for tp in batch.offsets] == [("t", 0, 2)]


def test_prepare_accounts_for_every_message():
    """Messages with readings, dead-lettered whole, partly dead-lettered and with a named no-readings
    reason sum to the batch (the flow artifact's ``reconciles``)."""
    good = (FIXTURES / "message-full.json").read_bytes()
    metadata = (FIXTURES / "opc-publisher" / "pubsub-ua-metadata.json").read_bytes()
    batch_of_five = orjson.loads((FIXTURES / "opc-publisher" / "samples-fm-batch.json").read_bytes())
    batch_of_five[1]["Value"]["SourceTimestamp"] = "0001-01-01T00:00:00Z"
    batch_of_five[3].pop("NodeId")
    partly = orjson.dumps(batch_of_five)
    messages = [_Message(0, good), _Message(1, metadata), _Message(2, b"{"), _Message(3, partly)]
    batch = consumer.prepare(messages, Limits(), logging.getLogger("t"))
    assert (batch.with_readings, dict(batch.no_readings), batch.partly_dead_lettered) == (1, {"metadata_only": 1}, 1)
    assert [(m.offset(), e.code, at) for m, e, at in batch.rejected] == [
        (2, "invalid_json", ""), (3, "bad_timestamp", "[1]"), (3, "unknown_shape", "[3]"),
    ]
    whole = sum(not at for _, _, at in batch.rejected)
    assert batch.with_readings + whole + batch.partly_dead_lettered + sum(batch.no_readings.values()) == batch.size
    assert len(batch.rows) == 2 + 3  # message-full's two, and the batch's three good samples
