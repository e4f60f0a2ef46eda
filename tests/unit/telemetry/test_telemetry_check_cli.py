"""``knowledge-ingest telemetry check`` on the real fixture files: JSON lines out, exit status."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson

from flows.cli import main

FIXTURES = Path(__file__).parents[2] / "fixtures" / "telemetry"
ROOT = Path(__file__).parents[3]


def run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main(["telemetry", "check", *argv])
    out, err = capsys.readouterr()
    return code, [orjson.loads(line) for line in out.splitlines()], err


def test_help_exits_zero():
    for argv in (["--help"], ["telemetry", "--help"], ["telemetry", "check", "--help"]):
        done = subprocess.run([sys.executable, "-m", "flows.cli", *argv], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0 and "usage: knowledge-ingest" in done.stdout


def test_real_ngsi_files_give_readings_and_exit_zero(capsys):
    files = sorted(str(p) for p in FIXTURES.glob("ngsi*"))
    code, records, err = run(capsys, *files)
    assert code == 0 and err == ""
    per_file = {f: sum(r["message"] == f for r in records) for f in files}
    assert list(per_file.values()) == [13, 13, 11, 14, 14]
    pressure = next(r for r in records if r["metric"] == "atmosphericPressure")
    assert (pressure["value"], pressure["time"], pressure["source"]) == (938.9, "2016-11-30T07:00:00+00:00", "fiware")


def test_json_lines_file_is_one_message_per_line(capsys):
    path = str(FIXTURES / "opc-publisher" / "samples-fm.jsonl")
    code, records, _ = run(capsys, path)
    assert code == 0
    assert [(r["message"], r["value"], r["status"], r["status_code"]) for r in records] == [
        (f"{path}:1", 1059185306.0, "Good", 0), (f"{path}:2", None, "Bad", 2150694912),
    ]


def test_metadata_is_a_named_no_readings_reason_and_exits_zero(capsys):
    good = str(FIXTURES / "opc-publisher" / "pubsub-ua-data.json")
    metadata = str(FIXTURES / "opc-publisher" / "pubsub-ua-metadata.json")
    code, records, err = run(capsys, good, metadata)
    assert code == 0 and len(records) == 5
    assert err == f"{metadata}: no readings: metadata_only\n"


def test_a_message_that_would_be_dead_lettered_exits_one(capsys, tmp_path):
    sample = orjson.loads((FIXTURES / "opc-publisher" / "samples.json").read_bytes())
    sample["Value"]["SourceTimestamp"] = "0001-01-01T00:00:00Z"  # an unset device clock
    path = tmp_path / "bad.jsonl"
    path.write_bytes((FIXTURES / "opc-publisher" / "samples.json").read_bytes().replace(b"\n", b"") + b"\n"
                     + orjson.dumps(sample) + b"\n")
    code, records, err = run(capsys, str(path))
    assert code == 1 and [r["message"] for r in records] == [f"{path}:1"]
    assert err == f"{path}:2: dead-lettered: bad_timestamp: Value.SourceTimestamp: '0001-01-01T00:00:00Z' is before 1970 (unset clock?)\n"


def test_a_partly_rejected_message_shows_good_readings_and_bad_parts_and_exits_one(capsys, tmp_path):
    """An OPC Publisher batch with two bad elements: the consumer writes the other three."""
    batch = orjson.loads((FIXTURES / "opc-publisher" / "samples-fm-batch.json").read_bytes())
    batch[1]["Value"]["SourceTimestamp"] = "0001-01-01T00:00:00Z"
    batch[4]["Value"]["StatusCode"] = -1
    path = tmp_path / "batch.json"
    path.write_bytes(orjson.dumps(batch))
    code, records, err = run(capsys, str(path))
    assert code == 1
    assert [(r["message"], r["metric"].split(";s=")[1]) for r in records] == [
        (str(path), "AlternatingBoolean"), (str(path), "RandomSignedInt32"), (str(path), "RandomUnsignedInt32"),
    ]
    assert err.splitlines() == [
        f"{path} at [1]: dead-lettered: bad_timestamp: [1].Value.SourceTimestamp: '0001-01-01T00:00:00Z' is before 1970 (unset clock?)",
        f"{path} at [4]: dead-lettered: wrong_type: [4].Value.StatusCode: expected a 32-bit unsigned code",
    ]


def test_stdin_and_no_readings(capsys, monkeypatch):
    entity = b'{"id": "x", "type": "T", "name": "hall", "dateObserved": "2025-01-01T00:00:00Z"}'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(entity)))
    code, records, err = run(capsys, "-")
    assert (code, records) == (0, [])
    assert err == "-: no readings: metadata_only\n"


def test_unreadable_file_exits_two(capsys, tmp_path):
    code, records, err = run(capsys, str(tmp_path / "missing.json"))
    assert (code, records) == (2, [])
    assert err.startswith("knowledge-ingest: error: cannot read") and "missing.json" in err
