"""``knowledge-ingest``: every command answers ``--help``, usage errors exit 2, and the installed
console script is the same command."""

from __future__ import annotations

import argparse
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
            ("sync",), ("embed",), ("graph",), ("automations",)} <= set(COMMANDS)


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
