"""A real (encrypted) repository replicated across providers, restored byte-identical from the
last hop; verify_before_replicate; RPO status and metrics on real repositories."""

from __future__ import annotations

import filecmp
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from dr_orchestrator.replication.options import Options
from dr_orchestrator.replication.replicator import replicate
from dr_orchestrator.replication.repo_graph import RepositoryGraph, VerifyFilter
from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.storage.local import LocalBackend
from dr_orchestrator.storage.registry import open_backend
from tests.unit.replication.synth import flip_byte

PW = "correct horse battery staple"
Location = tuple[str, dict[str, str]]


def make_data(root: Path, seed: int = 1) -> Path:
    rng = random.Random(seed)
    d = root / f"data{seed}"
    (d / "sub").mkdir(parents=True)
    (d / "big.bin").write_bytes(rng.randbytes(3 << 20))
    (d / "text.txt").write_text("hello replica\n" * 5000)
    (d / "sub" / "small.bin").write_bytes(rng.randbytes(777))
    return d


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(a / s, b / s) for s in cmp.common_dirs)


@pytest.mark.services
def test_real_repository_across_clouds_restores_byte_identical(
        tmp_path: Path, s3_location: Callable[..., Location], gcs_location: Callable[..., Location],
        azure_location: Callable[..., Location]) -> None:
    local = LocalBackend(tmp_path / "repo")
    repo = Repository.init(local, PW)
    data = make_data(tmp_path)
    repo.backup([str(data)], tags=["db"])
    east = open_backend(*s3_location("main"))
    west = open_backend(*s3_location("other"))
    gcs = open_backend(*gcs_location("main"))
    azure = open_backend(*azure_location("main"))
    hops = [(local, east), (east, west), (west, gcs), (gcs, azure)]
    for src, dst in hops:
        graph = RepositoryGraph(Repository.open(src, PW))
        rep = replicate(src, dst, Options(graph=graph))
        assert rep.ok, rep.to_dict()
    assert rep.counters.bytes_streamed > 0
    # the region → region hop was server-side
    # incremental: a second backup moves only its new objects along the chain
    (data / "text.txt").write_text("changed\n" * 100)
    repo2 = Repository.open(local, PW)
    snap2 = repo2.backup([str(data)], tags=["db"])
    for src, dst in hops:
        before = {i.key for i in dst.list("")}
        rep = replicate(src, dst, Options(graph=RepositoryGraph(Repository.open(src, PW))))
        assert rep.ok and rep.counters.objects_copied == len({i.key for i in src.list("")} - before)
        assert snap2.id in rep.snapshots_copied
    last = Repository.open(azure, PW)
    assert [s.id for s in last.snapshots()][-1] == snap2.id
    out = tmp_path / "restored"
    last.restore(last.find_snapshot("latest"), str(out))
    assert same_tree(data, out / str(data).lstrip("/"))
    assert last.verify(read_data=1.0).ok


def test_verify_before_replicate_publishes_only_verified_snapshots(tmp_path: Path) -> None:
    src = LocalBackend(tmp_path / "src")
    repo = Repository.init(src, PW)
    first = repo.backup([str(make_data(tmp_path, 1))], tags=["db"])
    dst = LocalBackend(tmp_path / "dst")
    graph = RepositoryGraph(Repository.open(src, PW))
    vf = VerifyFilter(graph, lambda: {i.key for i in dst.list("data/")})
    rep = replicate(src, dst, Options(graph=graph, snapshot_filter=vf))
    assert rep.snapshots_copied == [first.id] and vf.packs_read > 0

    second = Repository.open(src, PW).backup([str(make_data(tmp_path, 2))], tags=["db"])
    graph2 = RepositoryGraph(Repository.open(src, PW))
    new_packs = sorted(graph2.snapshot_packs(second.id) - graph2.snapshot_packs(first.id))
    flip_byte(str(src.root / "data" / new_packs[0][:2] / new_packs[0]), offset=50)
    rep2 = replicate(src, dst, Options(graph=graph2, snapshot_filter=VerifyFilter(graph2)))
    assert rep2.source_corrupt == [f"data/{new_packs[0][:2]}/{new_packs[0]}"]
    assert list(rep2.snapshots_held_back) == [second.id]
    assert "verification failed" in rep2.snapshots_held_back[second.id]
    assert {i.key.split("/")[1] for i in dst.list("snapshots/")} == {first.id}
    # the target stays a restorable repository
    assert Repository.open(dst, PW).verify(read_data=1.0).ok


RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {name: rpo-test}
sites:
  primary: {storage: "file://%(root)s/primary"}
  dr: {role: recovery, storage: "file://%(root)s/dr"}
data_classes:
  db:
    rpo: 1h
    schedule: "*/15 * * * *"
    retention: {keep_last: 3}
    source_site: primary
    replicate_to: [dr]
    verify_before_replicate: true
    sources:
      - {type: paths, path: "%(root)s/data1"}
"""


def test_status_rpo_and_metrics(tmp_path: Path) -> None:
    from dr_orchestrator.app import replication as app_repl
    from dr_orchestrator.app import status as app_status

    data = make_data(tmp_path, 1)
    runbook_path = tmp_path / "runbook.yaml"
    runbook_path.write_text(RUNBOOK % {"root": tmp_path})
    repo = Repository.init(LocalBackend(tmp_path / "primary" / "db"), PW)
    snap = repo.backup([str(data)], tags=["db"])
    env = {**os.environ, "DRO_PASSWORD": PW, "DRO_STATE_DIR": str(tmp_path / "state")}
    metrics = tmp_path / "dro.prom"
    cmd = [sys.executable, "-m", "dr_orchestrator.cli.main", "status", str(runbook_path), "--json",
           "--metrics", str(metrics)]
    # not replicated yet: the dr site has no repository -> VIOLATED, exit 1
    before = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert before.returncode == 1, before.stderr
    doc = json.loads(before.stdout)
    by_site = {s["site"]: s for s in doc["statuses"]}
    assert by_site["dr"]["status"] == "VIOLATED" and by_site["dr"]["error"]
    # verify_before_replicate: at the source only a snapshot that reached a replica counts
    assert by_site["primary"]["status"] == "VIOLATED" and by_site["primary"]["snapshots"] == 1

    repl = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "replicate", str(runbook_path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert repl.returncode == 0, repl.stderr + repl.stdout
    after = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert after.returncode == 0, after.stderr
    statuses = json.loads(after.stdout)["statuses"]
    assert [(s["site"], s["status"], s["snapshot"]) for s in statuses] == [
        ("primary", "OK", snap.id), ("dr", "OK", snap.id)]
    text = metrics.read_text()
    assert 'dro_rpo_ok{data_class="db",site="dr"} 1' in text
    assert 'dro_rpo_seconds{data_class="db",site="primary"} 3600' in text
    assert f'dro_last_success_timestamp_seconds{{data_class="db",site="dr"}} {snap.time.timestamp()!r}' in text
    replicated = [ln for ln in text.splitlines() if ln.startswith("dro_replicated_bytes_total{")]
    assert replicated and int(replicated[0].split()[-1]) > 3 << 20
    assert "# TYPE dro_replicated_bytes_total counter" in text

    # two hours later without a new backup: violated everywhere
    os.environ["DRO_STATE_DIR"] = str(tmp_path / "state")
    try:
        late = app_status.status(app_repl.load_runbook(str(runbook_path)), PW, now=snap.time + timedelta(hours=2))
    finally:
        del os.environ["DRO_STATE_DIR"]
    assert not late.ok and all(s.age_seconds and s.age_seconds >= 7200 for s in late.statuses)


def test_schedule_once_backs_up_replicates_and_status_holds(tmp_path: Path) -> None:
    """The whole stack through the CLI: real backup of the runbook's sources, replication, RPO."""
    make_data(tmp_path, 1)
    runbook_path = tmp_path / "runbook.yaml"
    runbook_path.write_text(RUNBOOK % {"root": tmp_path})
    env = {**os.environ, "DRO_PASSWORD": PW, "DRO_STATE_DIR": str(tmp_path / "state")}
    once = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "schedule", "run", str(runbook_path),
                           "--once"], capture_output=True, text=True, env=env, timeout=120)
    assert once.returncode == 0, once.stderr + once.stdout
    (line,) = [ln for ln in once.stdout.splitlines() if " db: " in ln]
    assert "ok (once)" in line and "dr: +" in line
    primary = Repository.open(LocalBackend(tmp_path / "primary" / "db"), PW).snapshots()
    replica = Repository.open(LocalBackend(tmp_path / "dr" / "db"), PW).snapshots()
    assert [s.id for s in primary] == [s.id for s in replica] and primary[0].tags == ["db"]
    status = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "status", str(runbook_path)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("OK") == 2 and "VIOLATED" not in status.stdout
    state = json.loads((tmp_path / "state" / "schedule-rpo-test.json").read_text())
    assert state["db"]["last_status"] == "ok"


def test_verify_filter_trusts_a_recorded_full_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = LocalBackend(tmp_path / "src")
    snap = Repository.init(src, PW).backup([str(make_data(tmp_path, 3))], tags=["db"])
    assert Repository.open(src, PW).verify(read_data=1.0).ok  # records snap as verified
    graph = RepositoryGraph(Repository.open(src, PW))
    assert graph.snapshot(snap.id).verified_at is not None
    vf = VerifyFilter(graph)
    assert vf([snap.id]) == {} and vf.packs_read == 0  # no second read of what verify read
