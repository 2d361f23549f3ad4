"""A whole data class (files + SQLite + a command) backed up as one snapshot and restored."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from dr_orchestrator.app.sources import backup_data_class, open_repository, restore_data_class
from dr_orchestrator.errors import BadInput
from dr_orchestrator.runbook import load_runbook
from dr_orchestrator.sources.process import SourceFailed
from tests.integration.sources.conftest import PASSWORD


def runbook(tmp_path: Path, command: list[str]) -> Path:
    (tmp_path / "files" / "sub").mkdir(parents=True)
    (tmp_path / "files" / "a.txt").write_text("alpha\n")
    (tmp_path / "files" / "sub" / "b.log").write_text("skip me\n")
    con = sqlite3.connect(tmp_path / "app.db")
    con.execute("CREATE TABLE t (x)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    con.commit()
    con.close()
    argv = ", ".join(f'"{a}"' for a in command)
    path = tmp_path / "runbook.yaml"
    path.write_text(f"""\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata:
  name: class-test
sites:
  home:
    storage: file://./repos
data_classes:
  app:
    rpo: 1h
    schedule: "0 * * * *"
    source_site: home
    sources:
      - type: paths
        path: ./files
        exclude: ["*.log"]
      - type: sqlite
        name: appdb
        path: ./app.db
      - type: command
        name: inventory
        command: [{argv}]
""")
    return path


def test_data_class_round_trip(tmp_path: Path) -> None:
    rb = load_runbook(runbook(tmp_path, [sys.executable, "-c", "print('inventory v1')"]))
    snap = backup_data_class(rb, "app", PASSWORD)
    assert snap.tags == ["app"] and set(snap.streams) == {"appdb/app.db", "command/inventory"}
    assert (tmp_path / "repos" / "app" / "config").exists()  # relative file:// starts at the runbook

    out = tmp_path / "out"
    report = restore_data_class(rb, "app", str(out), PASSWORD)
    assert report.snapshot == snap.id and {e.kind for e in report.entries} == {"paths", "sqlite", "command"}
    files = out / str(tmp_path / "files").lstrip("/")
    assert (files / "a.txt").read_text() == "alpha\n"
    assert not (files / "sub" / "b.log").exists()
    assert (out / "command" / "inventory").read_text() == "inventory v1\n"
    con = sqlite3.connect(out / "appdb" / "app.db")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (100,)
    con.close()

    # One source to a file path: the SQLite database is written there.
    db = tmp_path / "restored.db"
    restore_data_class(rb, "app", str(db), PASSWORD, source="appdb", snapshot=snap.id[:10])
    con = sqlite3.connect(db)
    assert con.execute("SELECT sum(x) FROM t").fetchone() == (4950,)
    con.close()


def test_failing_source_leaves_no_snapshot(tmp_path: Path) -> None:
    rb = load_runbook(runbook(tmp_path, [sys.executable, "-c", "import sys; sys.exit(5)"]))
    with pytest.raises(SourceFailed, match="inventory"):
        backup_data_class(rb, "app", PASSWORD)
    repo = open_repository(rb, "app", PASSWORD)
    assert repo.snapshots() == []


def test_restore_picks_by_time_and_rejects_unknown_source(tmp_path: Path) -> None:
    rb = load_runbook(runbook(tmp_path, ["echo", "v"]))
    first = backup_data_class(rb, "app", PASSWORD)
    second = backup_data_class(rb, "app", PASSWORD)
    assert second.parent == first.id
    at = first.time.isoformat()
    report = restore_data_class(rb, "app", str(tmp_path / "o1"), PASSWORD, snapshot=at, source="inventory")
    assert report.snapshot == first.id
    with pytest.raises(BadInput, match="no source named"):
        restore_data_class(rb, "app", str(tmp_path / "o2"), PASSWORD, source="nope")
    with pytest.raises(BadInput, match="only receive postgres"):
        restore_data_class(rb, "app", "postgresql://postgres@127.0.0.1:5434/x", PASSWORD)
