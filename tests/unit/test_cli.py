"""``knowledge-ingest``: every command answers ``--help``, usage errors exit 2, and the installed
console script is the same command."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path in the parser tree, e.g. ("telemetry", "check")."""
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, prefix + (name,))
    return found


COMMANDS = _commands(build_parser())


def test_the_tree_has_the_commands_the_readme_shows():
    assert {("demo",), ("search",), ("lineage",), ("telemetry", "check"), ("telemetry", "ingest"),
            ("sync",), ("embed",), ("graph",), ("automations",), ("sources", "list"),
            ("sources", "parse"), ("budgets", "apply"), ("budgets", "list")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "(top)")
def test_help_exits_0(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: knowledge-ingest" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["no-such-command"], ["sync", "nowhere"], ["sync", "openalex", "--since", "May"]])
def test_usage_errors_exit_2_on_stderr(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage: knowledge-ingest" in err


@pytest.mark.parametrize("action", ["apply", "list"])
def test_budgets_without_a_prefect_api_exit_2(action, monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["budgets", action]) == 2
    assert "PREFECT_API_URL is not set" in capsys.readouterr().err


def test_telemetry_check_of_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["telemetry", "check", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_console_script_is_installed_and_answers():
    script = shutil.which("knowledge-ingest", path=str(Path(sys.executable).parent))
    assert script, "pip install -e . should install the knowledge-ingest console script"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("demo", "lineage", "telemetry", "sync"):
        assert command in done.stdout


def test_sources_list_shows_the_registry(capsys):
    from tasks.literature.sources import REGISTRY

    assert main(["sources", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed == [e.describe() for e in REGISTRY]
    crossref = next(s for s in listed if s["name"] == "crossref")
    assert (crossref["domain"], crossref["kind"], crossref["per_second"], crossref["schedule"]) == (
        "literature", "declared", 5.0, "0 4 * * *")
    assert main(["sources", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "domain", "kind", "entity", "table", "per_second", "per_day", "schedule"]
    assert table[1].split()[:3] == ["openalex", "literature", "coded"]


def test_sources_parse_prints_rows_as_json_lines(tmp_path, capsys):
    import gzip

    from tests.recorded import cassette

    page = tmp_path / "page.json.gz"
    page.write_bytes(gzip.compress(cassette("crossref/crossref_works_cursor.habanero.yaml")[0][1]))
    assert main(["sources", "parse", "crossref", str(page)]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 20 and err == ""
    assert rows[0]["document_id"] == "doi:10.1007/springerreference_66110" and rows[0]["raw_key"] == str(page)


def test_sources_parse_reports_quarantined_records_and_exits_1(tmp_path, capsys):
    from tests.recorded import cassette

    page = tmp_path / "s2.json"
    page.write_bytes(cassette("semanticscholar/semanticscholar_paper_search_2pages.yaml")[0][1])
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    assert main(["sources", "parse", "semanticscholar", str(page), str(bad)]) == 1
    out, err = capsys.readouterr()
    rejects = [json.loads(line) for line in err.splitlines()]
    assert out == "" and len(rejects) == 101 and all(r["quarantined"] for r in rejects)
    assert rejects[0]["source_id"] == "7cbc2a7843411a1768ab762930707af0a3c33a19"
    assert rejects[0]["reason"] == "missing updated_at (publicationDate)"
    assert rejects[-1]["raw_key"] == str(bad) and "not valid JSON" in rejects[-1]["reason"]


def test_sources_parse_of_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["sources", "parse", "crossref", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
