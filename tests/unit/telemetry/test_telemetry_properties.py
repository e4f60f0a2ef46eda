"""Property: over generated NGSI and OPC UA messages, the normaliser never crashes and every message
is accounted for. It is rejected whole (``InvalidMessage``, a known reason), or it splits into
exactly the parts its structure has (entities of ``data``, DataSetMessages of a ``Messages`` array,
elements of a top-level array), each of which gives readings, is rejected with a known reason, or
gives none, exactly as it would alone; a message of which no part gives readings or is rejected
has a named no-readings reason. Every reading names a field of its own part.
"""

from __future__ import annotations

from datetime import datetime, timezone

import re

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.telemetry.model import InvalidMessage, Limits
from tasks.telemetry.normalise import NO_READINGS_REASONS, no_readings_reason, normalise, outcome

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
CODES = {
    "empty", "too_large", "invalid_json", "too_deep", "unknown_shape", "missing_entity_id",
    "missing_timestamp", "bad_timestamp", "future_timestamp", "wrong_type", "invalid_text",
}
names = st.sampled_from(["temperature", "name", "address", "level", "count", "status", "location", "x"])
times = st.one_of(st.none(), st.sampled_from(["2025-01-01T00:00:00Z", "2025-01-01T00:00:00", "soon",
                                             "0001-01-01T00:00:00Z", "2099-01-01T00:00:00Z"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["1", "2.5", "true", "hot", ""]))
values = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.sampled_from(["a", "@value", "@type"]), scalars, max_size=2))


def strings(node):
    """Every key and string value in a JSON document (a metric must be one of them)."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield key
            yield from strings(child)
    elif isinstance(node, list):
        for child in node:
            yield from strings(child)
    elif isinstance(node, str):
        yield node


def drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


v2_attr = st.builds(lambda t, v, ts: drop_none({"type": t, "value": v, "metadata": drop_none({"TimeInstant": ts and {"type": "DateTime", "value": ts}})}),
                    st.sampled_from(["Number", "Integer", "Text", "Boolean", "StructuredValue", "geo:json", "DateTime", "Relationship"]), values, times)
ld_attr = st.one_of(
    st.builds(lambda t, v, ts: drop_none({"type": t, "value": v, "observedAt": ts}),
              st.sampled_from(["Property", "GeoProperty", "Relationship"]), values, times),
    st.builds(lambda v: {"value": v}, values), scalars,
)
entity_time = st.dictionaries(st.sampled_from(["dateObserved", "TimeInstant", "dateObservedTo"]), times, max_size=1)
v2_entity = st.builds(lambda i, a, t: {"id": i, "type": "T", **a, **drop_none(t)}, st.sampled_from(["urn:ngsi-ld:T:1", "d1", ""]),
                      st.dictionaries(names, st.one_of(v2_attr, scalars), max_size=4), entity_time)
ld_entity = st.builds(lambda a, t: {"id": "urn:ngsi-ld:T:1", "type": "T", "@context": [], **a, **drop_none(t)},
                      st.dictionaries(names, ld_attr, max_size=4), entity_time)
notification = st.builds(lambda d, n: drop_none({"subscriptionId": "s", "notifiedAt": n, "data": d}),
                         st.lists(st.one_of(v2_entity, ld_entity), max_size=3), times)
variant = st.one_of(
    st.builds(lambda t, b: {"Type": t, "Body": b}, st.sampled_from([1, 6, 8, 11, 12, 15, "Double", "ByteString", "Nope", 99]), values),
    st.builds(lambda t, b: {"UaType": t, "Value": b}, st.sampled_from([1, 6, 11, 12]), values), scalars,
)
data_value = st.builds(lambda v, ts, sc: drop_none({"Value": v, "SourceTimestamp": ts, "StatusCode": sc}), variant, times,
                       st.sampled_from([None, 0, 2150694912, 1083179008, {"Code": 2150694912, "Symbol": "Bad"}, -1]))
dataset = st.builds(lambda w, p, ts: drop_none({"DataSetWriterId": w, "Timestamp": ts, "Payload": p}),
                    st.sampled_from([None, 1, "w"]), st.dictionaries(names, st.one_of(data_value, variant), max_size=4), times)
network = st.builds(lambda m, pub, ts: drop_none({"MessageType": "ua-data", "PublisherId": pub, "Timestamp": ts, "Messages": m}),
                    st.one_of(dataset, st.lists(dataset, max_size=3)), st.sampled_from([None, "plc", 5]), times)
sample = st.builds(lambda dv, pub: {"NodeId": "ns=1;s=x", "Value": dv, "ExtensionFields": drop_none({"PublisherId": pub})},
                   data_value, st.sampled_from([None, "plc"]))
messages = st.one_of(v2_entity, ld_entity, notification, network, dataset, sample,
                     st.lists(st.one_of(network, sample, v2_entity, notification, st.integers(-3, 3)), min_size=1, max_size=3))


def part_paths(doc, at: str) -> list[str]:
    """The parts a valid document has, by its structure alone."""
    prefix = f"{at}." if at else ""
    if isinstance(doc, dict) and "subscriptionId" in doc and isinstance(doc.get("data"), list):
        return [f"{prefix}data[{i}]" for i in range(len(doc["data"]))]
    if isinstance(doc, dict) and isinstance(doc.get("Messages"), list):
        return [f"{prefix}Messages[{i}]" for i in range(len(doc["Messages"]))]
    return [at]


def at_path(doc, path: str):
    """The sub-document at a part's path (``[1].Messages[0]``)."""
    for index, key in re.findall(r"\[(\d+)\]|(\w+)", path):
        doc = doc[int(index)] if index else doc[key]
    return doc


def alone(doc, path: str):
    """The message reduced to the one part at ``path``: every array on the way holds only it."""
    tokens = re.findall(r"\[(\d+)\]|(\w+)", path)

    def keep(node, tokens):
        if not tokens:
            return node
        (index, key), rest = tokens[0], tokens[1:]
        return [keep(node[int(index)], rest)] if index else {**node, key: keep(node[key], rest)}

    return keep(doc, tokens)


def first(text: str) -> str:
    """A path or detail with every index at 0, as in ``alone``'s message."""
    return re.sub(r"\[\d+\]", "[0]", text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_every_generated_message_and_part_is_accounted_for(doc):
    payload = orjson.dumps(doc)
    try:
        parts = normalise(payload, Limits(), NOW)
    except InvalidMessage as exc:  # rejected whole
        assert exc.code in CODES and exc.detail
        return

    # the parts are exactly the document's structural parts; an element of a top-level array may be
    # rejected as one part when what is wrong spoils all of its own parts
    got = [p.at for p in parts]
    if isinstance(doc, list):
        expected, rest = [], got
        for i, item in enumerate(doc):
            own = part_paths(item, f"[{i}]")
            if own != [f"[{i}]"] and rest[:1] == [f"[{i}]"]:  # rejected as one
                own = [f"[{i}]"]
                assert parts[len(expected)].error is not None
            assert rest[:len(own)] == own
            expected += own
            rest = rest[len(own):]
        assert got == expected
    else:
        assert got == part_paths(doc, "")

    written = [p for p in parts if p.readings]
    dead = [p for p in parts if p.error is not None]
    empty = [p for p in parts if not p.readings and p.error is None]
    assert len(written) + len(dead) + len(empty) == len(parts)  # each part in exactly one class
    for p in dead:
        assert p.readings == [] and p.error.code in CODES and p.error.detail
    for p in written:
        fields = set(strings(at_path(doc, p.at)))
        for reading in p.readings:
            assert reading.time.tzinfo is not None and reading.source in ("fiware", "opcua")
            assert reading.metric in fields
            assert reading.value is None or isinstance(reading.value, float)

    for p in parts:  # a part's fate does not depend on its siblings
        [single] = normalise(orjson.dumps(alone(doc, p.at)), Limits(), NOW)
        assert (single.at, single.readings) == (first(p.at), p.readings)
        assert (single.error and first(str(single.error))) == (p.error and first(str(p.error)))

    readings, rejected, reason = outcome(payload, Limits(), NOW)  # what the consumer and check use
    assert readings == [r for p in parts for r in p.readings]
    assert [(p.at, str(p.error)) for p in rejected] == [(p.at, str(p.error)) for p in dead]
    if not written and not dead:  # accounted for under a named reason
        assert reason in NO_READINGS_REASONS and no_readings_reason(payload, Limits()) == reason
    else:
        assert reason is None
