"""The scheduler as a real process: catch-up on start, SIGTERM while a replication is in flight;
and runbook-level replication (`dro replicate RUNBOOK`) through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from dr_orchestrator.storage.local import LocalBackend
from tests.unit.replication.synth import SynthRepo, incomplete_snapshots

RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {name: sched-test}
sites:
  primary: {storage: "file://%(root)s/primary"}
  dr: {role: recovery, storage: "file://%(root)s/dr"}
data_classes:
  db:
    rpo: 2d
    schedule: "0 3 * * *"
    retention: {keep_last: 3}
    source_site: primary
    replicate_to: [dr]
    sources:
      - {type: paths, path: "%(root)s/data"}
"""

# The child: the real `dro schedule run` use case (signals, scheduler, state, replication of
# the real runbook); only the backup is a stand-in that commits a synthetic snapshot.
CHILD = textwrap.dedent("""\
    import sys, threading
    from dr_orchestrator.app import replication as app_repl, schedule
    from dr_orchestrator.replication.options import Options
    from dr_orchestrator.storage.local import LocalBackend
    from tests.unit.replication.synth import SynthRepo

    root = sys.argv[2]
    def backup(runbook, data_class, password):
        repo = SynthRepo(LocalBackend(root + "/primary/db"))
        if not list(repo.backend.list("config")):
            repo.init()
        return repo.add_snapshot(n_packs=40, size=64 * 1024, pad=16 * 1024)

    def replicate(runbook, data_class, password, stop):
        return app_repl.replicate_data_class(runbook, data_class, password=None,
                                             base=Options(stop=stop, bandwidth=512 * 1024, workers=2))

    sys.exit(schedule.run(sys.argv[1], "pw", backup=backup, replicate=replicate, grace=20))
""")


def write_runbook(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK % {"root": tmp_path})
    return path


def test_sigterm_stops_the_scheduler_cleanly_mid_replication(tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    # The last run was two days ago: the daily 03:00 slot was missed, so it runs on start.
    (state_dir / "schedule-sched-test.json").write_text(json.dumps(
        {"db": {"last_run": "2020-01-01T03:00:00+00:00", "last_status": "ok"}}))
    env = {**os.environ, "DRO_STATE_DIR": str(state_dir), "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(runbook), str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dst = tmp_path / "dr" / "db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if dst.is_dir() and sum(1 for _ in (dst / "data").rglob("*")) > 5:
            break  # the catch-up run is replicating now
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10  # it abandoned the transfer instead of finishing 2.6 MB at 512 KiB/s
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert any("schedule started" in ln for ln in lines)
    assert any("received SIGTERM" in ln for ln in lines)
    runs = [ln for ln in lines if " db: " in ln]
    assert len(runs) == 1 and "abandoned (catch-up)" in runs[0]  # one line per run
    assert lines[-1].endswith("schedule stopped")
    # the replica is consistent (no snapshot without its data), nothing partial is visible
    target = LocalBackend(dst)
    assert list(target.list("snapshots/")) == []
    assert incomplete_snapshots(target) == {}
    src = LocalBackend(tmp_path / "primary" / "db")
    for info in target.list("data/"):
        assert target.get(info.key) == src.get(info.key)
    state = json.loads((state_dir / "schedule-sched-test.json").read_text())
    assert state["db"]["last_status"] == "abandoned"
    assert state["db"]["last_run"] == "2020-01-01T03:00:00+00:00"  # not counted as done: catch up next start


def test_replicate_runbook_cli_and_status_needs_password(tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path)
    repo = SynthRepo(LocalBackend(tmp_path / "primary" / "db")).init()
    repo.add_snapshot(n_packs=3)
    env = {k: v for k, v in os.environ.items() if k != "DRO_PASSWORD"}
    env["DRO_STATE_DIR"] = str(tmp_path / "state")
    run = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "replicate", str(runbook), "--json"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    (r,) = doc["replications"]
    assert (r["data_class"], r["source_site"], r["target_site"]) == ("db", "primary", "dr")
    assert r["counters"]["objects_copied"] == len(repo.contents)
    assert {i.key: LocalBackend(tmp_path / "dr" / "db").get(i.key)
            for i in LocalBackend(tmp_path / "dr" / "db").list("")} == repo.contents
    stats = json.loads((tmp_path / "state" / "replication-stats.json").read_text())
    assert stats["db/dr"]["bytes_total"] == sum(len(v) for v in repo.contents.values())
    status = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "status", str(runbook)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert status.returncode == 2 and "password" in status.stderr
