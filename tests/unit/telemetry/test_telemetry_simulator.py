"""The simulator's traffic is what the pipeline expects: good messages normalise, bad ones fail as
labelled, whole or in the labelled parts."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone

from tasks.telemetry.model import InvalidMessage, Limits
from tasks.telemetry.normalise import outcome
from tasks.telemetry.simulator import BAD_KINDS, FIWARE_TOPIC, OPCUA_TOPIC, generate

NOW = datetime.now(timezone.utc)


def test_labelled_errors_match_the_pipeline():
    outcomes, sources, keys = Counter(), Counter(), Counter()
    for message in generate(devices=24, messages=2000, bad_share=0.3, seed=7, start=NOW - timedelta(hours=2)):
        try:
            readings, rejected, _ = outcome(message.value, Limits(), NOW)
        except InvalidMessage as exc:
            outcomes[((message.error, message.error_at), (exc.code, ()))] += 1
            continue
        got = [(p.error.code, p.at) for p in rejected]
        outcomes[((message.error, message.error_at), (got[0][0] if got else None, tuple(at for _, at in got)))] += 1
        assert len({code for code, _ in got}) <= 1
        sources.update(r.source for r in readings)
        keys.update((r.entity_id, r.metric, r.time) for r in readings)
    assert all(expected == got for expected, got in outcomes), outcomes
    assert {expected for (expected, _), _ in outcomes} == {None, *BAD_KINDS}
    partly = {error for (error, at), _ in outcomes if at}
    assert partly == {"missing_entity_id", "missing_timestamp", "bad_timestamp", "future_timestamp", "wrong_type",
                      "unknown_shape"}  # a bad DataSetMessage of several, a batch of one bad element
    assert set(sources) == {"fiware", "opcua"}
    assert max(keys.values()) == 1  # (entity, metric, time) never repeats


def test_mix_of_formats_and_topics_is_deterministic():
    first = list(generate(devices=12, messages=48, seed=3, start=NOW))
    assert first == list(generate(devices=12, messages=48, seed=3, start=NOW))
    assert {m.topic for m in first} == {FIWARE_TOPIC, OPCUA_TOPIC}
    values = b"".join(m.value for m in first)
    for marker in (b'"metadata"', b'"observedAt"', b'"ua-data"', b'"Messages":[', b'"Messages":{'):
        assert marker in values  # NGSI-v2 normalized, NGSI-LD, OPC UA arrays and objects


def test_cli_help():
    command = [sys.executable, "-m", "tasks.telemetry.simulator", "--help"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0 and "--bad-share" in done.stdout
