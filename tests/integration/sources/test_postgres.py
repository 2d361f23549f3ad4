"""PostgreSQL source against the real clusters: pgbench (scale 10) on the primary (5433)
backed up with pg_dump streamed into the repository, restored with pg_restore into the
recovery cluster (5434); counts and per-table checksums must match."""

from __future__ import annotations

import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dr_orchestrator.app.sources import backup_data_class, restore_data_class
from dr_orchestrator.errors import DRError
from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.runbook import load_runbook
from dr_orchestrator.sources import postgres
from dr_orchestrator.sources.process import SourceFailed
from dr_orchestrator.storage.registry import open_backend
from tests.integration.sources.conftest import PASSWORD, psql

pytestmark = pytest.mark.services

PRIMARY, RECOVERY = 5433, 5434
TABLES = ("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history")
SECRET = "Pg-s3cret-" + uuid.uuid4().hex[:8]  # trust auth ignores it; it must never leak


def dsn(port: int, db: str, password: str | None = SECRET) -> str:
    auth = f"postgres:{password}" if password else "postgres"
    return f"postgresql://{auth}@127.0.0.1:{port}/{db}"


ORDER = {"pgbench_accounts": "aid", "pgbench_branches": "bid", "pgbench_tellers": "tid",
         "pgbench_history": "x::text"}


def fingerprint(port: int, db: str) -> dict[str, tuple[str, str]]:
    """Row count and md5 over all rows in a fixed order, per table."""
    return {t: (psql(port, db, f"SELECT count(*) FROM {t}"),
                psql(port, db, f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY {ORDER[t]}), '')) "
                               f"FROM {t} x"))
            for t in TABLES}


@pytest.fixture(scope="module")
def pgbench_db(pg_clusters: dict[str, str]) -> Iterator[str]:
    name = f"dro_src_{uuid.uuid4().hex[:10]}"
    psql(PRIMARY, "postgres", f"CREATE DATABASE {name}")
    try:
        subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(PRIMARY), "-U", "postgres", "-i", "-s", "10",
                        "-q", name], check=True, capture_output=True, timeout=300)
        # some history rows, so every table has content
        psql(PRIMARY, name, "INSERT INTO pgbench_history SELECT tid, bid, aid, 1, now(), 'x' "
                            "FROM pgbench_accounts JOIN pgbench_tellers USING (bid) WHERE aid % 5000 = 0")
        yield name
    finally:
        psql(PRIMARY, "postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def source_fingerprint(pgbench_db: str) -> dict[str, tuple[str, str]]:
    fp = fingerprint(PRIMARY, pgbench_db)
    assert fp["pgbench_accounts"][0] == "1000000" and int(fp["pgbench_history"][0]) > 0
    return fp


@pytest.fixture(scope="module")
def dumped(pgbench_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Repository, Any]]:
    """One repository holding one pg_dump snapshot of the pgbench database (shared by tests)."""
    repo = Repository.init(open_backend(f"file://{tmp_path_factory.mktemp('pg') / 'repo'}"), PASSWORD)
    snap = repo.backup([], streams=[postgres.dump_source(dsn(PRIMARY, pgbench_db, None))])
    yield repo, snap
    repo.close()


@pytest.fixture
def spy_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pg_dump/pg_restore wrappers first on PATH: they record argv and PGPASSWORD, then exec the real tool."""
    bindir, log = tmp_path / "spybin", tmp_path / "spy.log"
    bindir.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        real = subprocess.run(["which", tool], capture_output=True, text=True, check=True).stdout.strip()
        script = bindir / tool
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "argv: $*" "pgpassword: ${{PGPASSWORD:-}}" >> {log}\n'
                          f'exec {real} "$@"\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def write_runbook(tmp_path: Path, databases: list[str] | None = None) -> Path:
    dbs = f"\n        databases: [{', '.join(databases)}]" if databases else ""
    path = tmp_path / "runbook.yaml"
    path.write_text(f"""\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata:
  name: pg-test
sites:
  home:
    storage: file://./repos
data_classes:
  orders:
    rpo: 1h
    schedule: "0 * * * *"
    source_site: home
    sources:
      - type: postgres
        dsn: env:DRO_TEST_PG_DSN{dbs}
""")
    return path


def test_pgbench_round_trip_into_second_cluster(pgbench_db: str, source_fingerprint, pg_db, tmp_path: Path,
                                                spy_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRO_TEST_PG_DSN", dsn(PRIMARY, pgbench_db))
    runbook = load_runbook(write_runbook(tmp_path))
    snap = backup_data_class(runbook, "orders", PASSWORD)
    assert snap.tags == ["orders"]
    assert snap.streams[f"postgres/{pgbench_db}.dump"]["database"] == pgbench_db

    target_db = pg_db(RECOVERY, "dro_dst")
    report = restore_data_class(runbook, "orders", dsn(RECOVERY, target_db), PASSWORD)
    assert report.snapshot == snap.id and report.entries[0].bytes and report.entries[0].bytes > 1_000_000
    assert fingerprint(RECOVERY, target_db) == source_fingerprint

    # The password travelled only in PGPASSWORD: never in argv, never in the snapshot.
    log = spy_path.read_text()
    assert "argv:" in log and f"pgpassword: {SECRET}" in log
    assert all(SECRET not in line for line in log.splitlines() if line.startswith("argv:"))
    assert SECRET not in str(snap.to_json())
    assert SECRET not in str(report.to_json())


def test_parallel_restore_with_clean(pgbench_db: str, source_fingerprint, pg_db, dumped, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """jobs=2 spools the dump to a private (0600) temp file, removed afterwards; --clean
    replaces a conflicting table."""
    repo, snap = dumped
    target_db = pg_db(RECOVERY, "dro_par")
    psql(RECOVERY, target_db, "CREATE TABLE pgbench_branches (stale int)")
    spool = tmp_path / "spool"
    spool.mkdir()
    modes: list[int] = []
    real = postgres.run_checked

    def spy(argv, **kw):  # type: ignore[no-untyped-def]
        modes.extend(stat.S_IMODE(f.stat().st_mode) for f in spool.iterdir())
        return real(argv, **kw)

    monkeypatch.setattr(postgres, "run_checked", spy)
    opts = postgres.RestoreOptions(clean=True, jobs=2, spool_dir=str(spool))
    postgres.restore_from_repository(repo, snap, postgres.stream_name(pgbench_db), dsn(RECOVERY, target_db), opts)
    assert modes == [0o600]
    assert list(spool.iterdir()) == []
    assert fingerprint(RECOVERY, target_db) == source_fingerprint


def test_pg_dump_failure_aborts_snapshot(tmp_path: Path, pg_clusters: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    missing = f"dro_missing_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DRO_TEST_PG_DSN", dsn(PRIMARY, missing))
    runbook = load_runbook(write_runbook(tmp_path))
    with pytest.raises(SourceFailed) as err:
        backup_data_class(runbook, "orders", PASSWORD)
    text = f"{err.value.message} {err.value.hint}"
    assert "pg_dump" in text and missing in text and "does not exist" in text
    assert SECRET not in text and SECRET not in repr(err.value)
    repo = Repository.open(open_backend(f"file://{tmp_path / 'repos' / 'orders'}"), PASSWORD)
    assert repo.snapshots() == []
    assert list(repo.backend.list("snapshots/")) == []


def test_failed_database_aborts_whole_data_class(pgbench_db: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two databases, the second missing: no snapshot at all, not a half one."""
    monkeypatch.setenv("DRO_TEST_PG_DSN", dsn(PRIMARY, "postgres"))
    runbook = load_runbook(write_runbook(tmp_path, [pgbench_db, "dro_nope_" + uuid.uuid4().hex[:6]]))
    with pytest.raises(SourceFailed):
        backup_data_class(runbook, "orders", PASSWORD)
    repo = Repository.open(open_backend(f"file://{tmp_path / 'repos' / 'orders'}"), PASSWORD)
    assert repo.snapshots() == []


def test_pg_restore_failure_is_reported(pgbench_db: str, dumped) -> None:
    repo, snap = dumped
    missing = f"dro_absent_{uuid.uuid4().hex[:8]}"
    with pytest.raises(SourceFailed) as err:
        postgres.restore_from_repository(repo, snap, postgres.stream_name(pgbench_db), dsn(RECOVERY, missing))
    assert "pg_restore" in err.value.message and missing in err.value.message
    assert SECRET not in err.value.message


def test_secret_reference_must_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRO_TEST_PG_DSN", raising=False)
    runbook = load_runbook(write_runbook(tmp_path))
    with pytest.raises(DRError) as err:
        backup_data_class(runbook, "orders", PASSWORD)
    assert "DRO_TEST_PG_DSN" in err.value.message


def test_damaged_repository_restores_nothing(pg_db, tmp_path: Path) -> None:
    """A flipped byte in a pack: the restore fails with an integrity error and, because the
    feed into pg_restore --single-transaction is cut, the target database stays empty."""
    src = pg_db(PRIMARY, "dro_small")
    psql(PRIMARY, src, "CREATE TABLE items AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g")
    repo = Repository.init(open_backend(f"file://{tmp_path / 'repo'}"), PASSWORD)
    snap = repo.backup([], streams=[postgres.dump_source(dsn(PRIMARY, src))])
    packs = sorted((tmp_path / "repo" / "data").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    pack = packs[-1]
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    pack.write_bytes(bytes(raw))
    target = pg_db(RECOVERY, "dro_dmg")
    with pytest.raises(DRError) as err:
        postgres.restore_from_repository(repo, snap, postgres.stream_name(src), dsn(RECOVERY, target))
    assert err.value.exit_code == 3
    assert psql(RECOVERY, target, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"
