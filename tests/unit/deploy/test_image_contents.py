"""The image holds what its deployments run: build the image's file list the way ``docker build``
does (the build context minus ``.dockerignore``, copied by ``COPY . .``) and check every
prefect.yaml entrypoint, the dbt project and the recorded responses are in it, and that no
deployable code reads from ``tests/`` (which the image leaves out)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tasks.literature.sources.replay import RECORDINGS

ROOT = Path(__file__).resolve().parents[3]


def _pattern(line: str) -> re.Pattern:
    """A .dockerignore pattern (Go filepath.Match plus ``**``, anchored at the context root)."""
    parts = []
    for piece in re.split(r"(\*\*/?|\*|\?)", line.strip("/")):
        parts.append({"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(piece, re.escape(piece)))
    return re.compile("".join(parts) + "(?:/.*)?")  # a matched directory excludes its contents


def dockerignore(text: str) -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, _pattern(line.lstrip("!").strip())))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """The last matching rule decides, as in Docker."""
    verdict = False
    for keep, pattern in rules:
        if pattern.fullmatch(path):
            verdict = not keep
    return verdict


def image_files() -> set[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    rules = dockerignore((ROOT / ".dockerignore").read_text())
    return {p for p in listed if p and (ROOT / p).exists() and not excluded(p, rules)}


def test_the_matcher_follows_docker_rules():
    rules = dockerignore("tests\n**/__pycache__\n*.egg-info\ndbt/target\n!tests/keep.txt\n# comment\n")
    assert excluded("tests/unit/test_x.py", rules)
    assert not excluded("tests/keep.txt", rules)
    assert excluded("tasks/literature/sources/__pycache__/x.pyc", rules)
    assert excluded("knowledge_ingest.egg-info/PKG-INFO", rules)
    assert excluded("dbt/target/manifest.json", rules)
    assert not excluded("dbt/models/x.sql", rules)
    assert not excluded("tasks/tests_helpers.py", rules)  # anchored: only the root's tests/


def test_the_final_stage_copies_the_whole_context():
    assert re.search(r"^COPY \. \.$", (ROOT / "Dockerfile").read_text(), re.M)


def test_every_deployment_entrypoint_is_in_the_image():
    files = image_files()
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    assert deployments
    for deployment in deployments:
        path, _, function = deployment["entrypoint"].partition(":")
        assert path in files, f"{deployment['name']}: {path} is not in the image"
        assert re.search(rf"^def {function}\(", (ROOT / path).read_text(), re.M), deployment["entrypoint"]


def test_the_dbt_project_and_the_recorded_responses_are_in_the_image():
    files = image_files()
    assert {"dbt/dbt_project.yml", "dbt/profiles.yml", "pyproject.toml", "constraints.txt"} <= files
    assert any(f.startswith("dbt/models/") and f.endswith(".sql") for f in files)
    recordings = RECORDINGS.resolve().relative_to(ROOT).as_posix()
    assert not recordings.startswith("tests/")
    shipped = {f for f in files if f.startswith(recordings + "/")}
    on_disk = {p.relative_to(ROOT).as_posix() for p in RECORDINGS.rglob("*") if p.is_file()}
    assert on_disk and on_disk <= shipped


def test_deployable_code_never_reads_from_tests():
    for path in sorted(image_files()):
        if path.endswith(".py") or path.endswith(".yaml"):
            text = (ROOT / path).read_text()
            assert not re.search(r"^\s*(from|import) tests\b", text, re.M), path
            assert "tests/fixtures" not in text, path
