"""SQLite source: a consistent online copy while a writer is busy, and atomic restore."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dr_orchestrator.errors import BadInput, IntegrityError
from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.sources import sqlite as sq

ACCOUNTS = 50
TOTAL = ACCOUNTS * 1000


def make_db(path: Path, wal: bool) -> None:
    con = sqlite3.connect(path)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE account (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
    con.execute("CREATE TABLE transfer (id INTEGER PRIMARY KEY, src INT, dst INT, amount INT, pad BLOB)")
    con.executemany("INSERT INTO account VALUES (?, 1000)", [(i,) for i in range(ACCOUNTS)])
    con.commit()
    con.close()


class Writer(threading.Thread):
    """Moves money between accounts, one transaction per transfer: the total never changes,
    and every transfer row matches a committed balance change."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.commits = 0

    def run(self) -> None:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA synchronous=OFF")  # fast commits; durability is not what is tested
        i = 0
        while not self.stop.is_set():
            i += 1
            src, dst = i % ACCOUNTS, (i * 7 + 3) % ACCOUNTS
            with con:
                con.execute("UPDATE account SET balance = balance - 1 WHERE id = ?", (src,))
                con.execute("UPDATE account SET balance = balance + 1 WHERE id = ?", (dst,))
                con.execute("INSERT INTO transfer (src, dst, amount, pad) VALUES (?, ?, 1, zeroblob(2000))",
                            (src, dst))
            self.commits += 1
        con.close()


def state(path: Path) -> tuple[int, int]:
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        total = con.execute("SELECT sum(balance) FROM account").fetchone()[0]
        transfers = con.execute("SELECT count(*) FROM transfer").fetchone()[0]
        return total, transfers
    finally:
        con.close()


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback-journal"])
def test_round_trip_while_writer_active(tmp_path: Path, repo: Repository, wal: bool) -> None:
    db = tmp_path / "live.db"
    make_db(db, wal)
    writer = Writer(db)
    writer.start()
    try:
        while writer.commits < 200:  # the writer is well under way before the backup
            writer.stop.wait(0.01)
        snap = repo.backup([], streams=[sq.backup_source(db)], tags=["app"])
        during = writer.commits
    finally:
        writer.stop.set()
        writer.join()
    assert snap.streams["sqlite/live.db"]["source"] == "sqlite"

    out = tmp_path / "restored" / "live.db"
    size = sq.restore_from_repository(repo, snap, "sqlite/live.db", out)
    assert size == out.stat().st_size
    total, transfers = state(out)
    assert total == TOTAL  # a consistent snapshot: never half a transfer
    assert 200 <= transfers <= during  # taken while the writer was running
    assert state(db)[1] == writer.commits  # the source kept every commit


def test_restore_replaces_atomically_and_keeps_mode(tmp_path: Path, repo: Repository) -> None:
    db = tmp_path / "app.db"
    make_db(db, wal=True)
    snap = repo.backup([], streams=[sq.backup_source(db, source_name="appdb")])
    target = tmp_path / "target.db"
    con = sqlite3.connect(target)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE old (x)")
    con.execute("INSERT INTO old VALUES (1)")
    con.commit()
    con.close()
    (tmp_path / "target.db-wal").write_bytes(b"stale wal")
    target.chmod(0o640)
    sq.restore_from_repository(repo, snap, "appdb/app.db", target)
    assert state(target) == (TOTAL, 0)
    assert not (tmp_path / "target.db-wal").exists()
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".restoring")] == []


def test_corrupt_stream_is_not_installed(tmp_path: Path) -> None:
    import io

    target = tmp_path / "keep.db"
    make_db(target, wal=False)
    before = target.read_bytes()
    with pytest.raises(IntegrityError):
        sq.restore_stream(io.BytesIO(b"not a database" * 1000), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.db"]


def test_missing_database_is_refused_without_creating_it(tmp_path: Path, repo: Repository) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(BadInput, match="does not exist"):
        repo.backup([], streams=[sq.backup_source(missing)])
    assert not missing.exists()
    assert repo.snapshots() == []
