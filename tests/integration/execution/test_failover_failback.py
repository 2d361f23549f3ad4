"""Failover and failback against real servers: two sshd hosts, two PostgreSQL clusters."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.execution.estate import OWNER, PASSWORD, drop_databases, psql, write_estate

ROWS = 100_000  # pgbench scale 1


@pytest.fixture()
def estate(tmp_path, ssh_server, pg_clusters, monkeypatch):
    monkeypatch.setenv("DRO_PASSWORD", PASSWORD)
    est = write_estate(tmp_path, ssh_server, ROWS)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-p", "5433", "-U", "postgres", est["db"]], check=True)
    subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", "5433", "-U", "postgres", "-i", "-s", "1", "-q",
                    est["db"]], check=True, capture_output=True)
    from dr_orchestrator.app.replication import replicate_data_class
    from dr_orchestrator.app.sources import backup_data_class
    from dr_orchestrator.runbook import load_runbook

    runbook = load_runbook(est["runbook"])
    for dc in ("db", "www"):
        backup_data_class(runbook, dc, PASSWORD)
        replicate_data_class(runbook, dc, to=["recovery"], password=PASSWORD)
    yield est
    drop_databases(est["db"])


def dro(*args: str, cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([os.environ.get("DRO_PYTHON", "python"), "-m", "dr_orchestrator.cli.main", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def failures(state) -> str:
    return "; ".join(f"{s.key}: {s.error}" for s in state.failed_steps()) or str(state.summary())[:2000]


def checksum(port: int, db: str) -> str:
    return psql(port, db, "select md5(string_agg(aid::text || ':' || abalance::text, ',' order by aid)) "
                          "from pgbench_accounts")


def test_failover_then_failback_loses_no_row(estate, tmp_path):
    from dr_orchestrator.app.execute import ExecuteOptions, execute

    db = estate["db"]
    result = execute(estate["runbook"], ExecuteOptions(action="failover", parallel=2, mirror=True))
    state = result.state
    assert state.ok(), failures(state)
    # the database is at the recovery cluster, identical to the primary's
    assert psql(5434, db, "select count(*) from pgbench_accounts") == str(ROWS)
    assert checksum(5434, db) == checksum(5433, db)
    # the file tree is on the recovery host, bytes and modes preserved
    base = Path(str(estate["restored"]) + str(estate["www"]))
    for rel, (data, mode) in estate["files"].items():
        assert (base / rel).read_bytes() == data
        assert (base / rel).stat().st_mode & 0o777 == mode, rel
    assert os.readlink(base / "current") == "app"
    assert (base / "app" / "secret.conf").stat().st_uid == OWNER
    assert (tmp_path / "web-started").read_text().strip() == "started"
    # timings recorded: every step has a start, an end, a duration; services vs RTO; RPO
    summary = {s["name"]: s for s in state.summary()["services"]}
    for svc in summary.values():
        assert svc["recovery_s"] is not None and svc["rto_ok"] is True
        for step in svc["steps"]:
            assert step["status"] == "succeeded" and step["duration_s"] is not None
    assert summary["web"]["recovery_s"] >= max(summary["db"]["recovery_s"], summary["files"]["recovery_s"])
    assert summary["db"]["rpo_s"] is not None and 0 <= summary["db"]["rpo_s"] < 600
    # the journal is mirrored to the recovery site's storage
    mirror = tmp_path / "recovery" / "runs" / result.run_id / "journal.jsonl"
    assert mirror.exists() and "run_finished" in mirror.read_text()

    # --- the outage: the recovery site takes writes -------------------------------------
    psql(5434, db, "update pgbench_accounts set abalance = abalance + aid % 97 where aid % 13 = 0")
    psql(5434, db, "insert into pgbench_history (tid, bid, aid, delta, mtime) "
                   "select 1, 1, g, g, now() from generate_series(1, 777) g")
    psql(5434, db, "delete from pgbench_accounts where aid > 99990")
    expected = (checksum(5434, db), psql(5434, db, "select count(*) from pgbench_history"),
                psql(5434, db, "select count(*) from pgbench_accounts"))
    assert expected[0] != checksum(5433, db)

    back = execute(estate["runbook"], ExecuteOptions(action="failback"))
    assert back.state.ok(), failures(back.state)
    got = (checksum(5433, db), psql(5433, db, "select count(*) from pgbench_history"),
           psql(5433, db, "select count(*) from pgbench_accounts"))
    assert got == expected  # every change made during the outage is back at the primary
    assert (tmp_path / "active-site").read_text().strip() == "primary"
    # reprotect: the primary's data class has a fresh snapshot replicated to the recovery site
    from dr_orchestrator.app.sources import open_repository
    from dr_orchestrator.runbook import load_runbook

    rb = load_runbook(estate["runbook"])
    repo = open_repository(rb, "db", PASSWORD, site="recovery")
    try:
        assert len(repo.snapshots()) == 2
    finally:
        repo.close()
