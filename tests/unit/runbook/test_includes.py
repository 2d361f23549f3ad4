"""Includes: merged sections, positions inside the included file, cycles, duplicates."""

from __future__ import annotations

from pathlib import Path

from dr_orchestrator.runbook import validate_file

MAIN = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {name: inc}
include: [teams/payments.yaml]
sites:
  primary: {storage: "file://./p"}
  recovery: {storage: "file://./r", role: recovery}
services:
  api:
    site: primary
    depends_on: [payments]
"""

FRAGMENT = """\
apiVersion: dr-orchestrator/v1
kind: RunbookFragment
services:
  payments:
    site: primary
    depends_on: [ledgr]
  ledger:
    site: primary
    colour: blue
"""


def write(tmp_path: Path, main: str = MAIN, fragment: str = FRAGMENT) -> Path:
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "payments.yaml").write_text(fragment)
    (tmp_path / "main.yaml").write_text(main)
    return tmp_path / "main.yaml"


def test_issues_in_an_included_file_point_into_it(tmp_path: Path) -> None:
    _, issues = validate_file(write(tmp_path))
    rendered = [(Path(i.file).name, i.line, i.column, i.code) for i in issues]
    assert rendered == [("payments.yaml", 6, 18, "undefined-reference"), ("payments.yaml", 9, 5, "unknown-key")]
    assert "did you mean 'ledger'?" in (issues[0].hint or "")


def test_valid_include_merges_services(tmp_path: Path) -> None:
    fragment = FRAGMENT.replace("[ledgr]", "[ledger]").replace("    colour: blue\n", "")
    runbook, issues = validate_file(write(tmp_path, fragment=fragment))
    assert issues == [] and runbook is not None
    assert set(runbook.services) == {"api", "payments", "ledger"}
    assert runbook.position("services", "ledger")[0].endswith("teams/payments.yaml")


def test_duplicate_definition_across_files(tmp_path: Path) -> None:
    fragment = FRAGMENT.replace("  ledger:", "  api:")
    _, issues = validate_file(write(tmp_path, fragment=fragment))
    dup = [i for i in issues if i.code == "duplicate"]
    assert len(dup) == 1 and dup[0].line == 7 and "service 'api' is defined twice" in dup[0].message
    assert "main.yaml:9" in (dup[0].hint or "")


def test_include_cycle(tmp_path: Path) -> None:
    fragment = "kind: RunbookFragment\ninclude: [../main.yaml]\n"
    _, issues = validate_file(write(tmp_path, fragment=fragment))
    cycle = [i for i in issues if i.code == "include-cycle"]
    assert len(cycle) == 1 and cycle[0].line == 2
    assert "include cycle" in cycle[0].message and "main.yaml" in cycle[0].message


def test_fragment_header_is_checked(tmp_path: Path) -> None:
    fragment = "kind: RunbookFragment\nmetadata: {name: x}\n"
    _, issues = validate_file(write(tmp_path, fragment=fragment))
    assert [(i.line, i.code) for i in issues if Path(i.file).name == "payments.yaml"] == [(2, "unknown-key")]
