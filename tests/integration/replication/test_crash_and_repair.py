"""A replication killed with SIGKILL, watched by a checker; `dro repair` heals a damaged site."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from dr_orchestrator.replication import layout
from dr_orchestrator.storage.local import LocalBackend
from tests.unit.replication.synth import SynthRepo, flip_byte, incomplete_snapshots


def dro(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DRO_PASSWORD"}
    return subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", *args], capture_output=True,
                           text=True, env=env, timeout=timeout)


def test_sigkill_mid_way_target_always_consistent_and_rerun_sends_only_the_rest(tmp_path: Path) -> None:
    src = LocalBackend(tmp_path / "src")
    repo = SynthRepo(src).init()
    rng = random.Random(5)
    for _ in range(30):  # snapshots interleave with packs: each needs the packs written before it
        repo.add_snapshot(n_packs=3, size=40 * 1024, rng=rng, pad=60 * 1024)  # big enough to kill among
    dst = LocalBackend(tmp_path / "dst")

    violations: list[dict[str, set[str]]] = []
    checks = 0
    done = threading.Event()

    def checker() -> None:
        nonlocal checks
        while not done.is_set():
            bad = incomplete_snapshots(dst)
            checks += 1
            if bad:
                violations.append(bad)

    base = [sys.executable, "-m", "dr_orchestrator.cli.main", "replicate", "--from", f"file://{src.root}",
            "--to", f"file://{dst.root}", "--workers", "2", "--json"]
    env = {k: v for k, v in os.environ.items() if k != "DRO_PASSWORD"}

    def count(prefix: str) -> int:
        return sum(1 for _ in dst.list(prefix))

    def staged() -> int:
        return sum(1 for _ in dst.root.rglob(".dro-tmp-staged-*"))

    def run_and_kill(limit: str, reached: Callable[[], bool]) -> bool:
        proc = subprocess.Popen([*base, "--bandwidth-limit", limit], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 60
        while proc.poll() is None and not reached() and time.monotonic() < deadline:
            time.sleep(0.01)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        return killed

    t = threading.Thread(target=checker, daemon=True)
    t.start()
    try:
        # 1st kill in the data phase; 2nd (the resumed run) while the index and snapshot
        # objects are being staged beside the data phase's barrier (a local target).
        assert run_and_kill("2MiB", lambda: count("data/") >= 40)
        after_first = count("")
        assert 0 < count("data/") < len(repo.packs) and count("snapshots/") == 0
        assert run_and_kill("2MiB", lambda: staged() >= 3)
        present = {i.key for i in dst.list("")}
        missing = set(repo.contents) - present
        assert len(present) > after_first and missing
        assert count("snapshots/") == 0 and staged() >= 3  # staged: not visible, never published
        final = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120)
    finally:
        done.set()
        t.join(10)
    assert final.returncode == 0, final.stderr
    report = json.loads(final.stdout)
    assert report["counters"]["objects_copied"] == len(missing)  # only what had not arrived
    assert report["already_present"] == len(present)
    assert report["stale_temp_files_removed"] >= 3  # the killed runs' temp and staged files
    assert violations == [] and checks > 5
    assert {i.key: dst.get(i.key) for i in dst.list("")} == repo.contents
    assert not list(dst.root.rglob(".dro-tmp-*"))


def test_dro_repair_heals_a_damaged_site_from_its_replica(tmp_path: Path) -> None:
    primary = LocalBackend(tmp_path / "primary")
    repo = SynthRepo(primary).init()
    for _ in range(3):
        repo.add_snapshot(n_packs=3)
    replica_url = f"file://{tmp_path / 'replica'}"
    assert dro("replicate", "--from", f"file://{primary.root}", "--to", replica_url).returncode == 0

    lost = layout.data_key(repo.packs[0])
    flipped = layout.data_key(repo.packs[4])
    (primary.root / lost).unlink()
    flip_byte(str(primary.root / flipped))
    (primary.root / "snapshots" / repo.snapshots[1]).unlink()

    check = dro("repair", "--repo", f"file://{primary.root}", "--from", replica_url, "--dry-run", "--json")
    assert check.returncode == 0, check.stderr
    found = json.loads(check.stdout)
    assert found["resent_corrupt_target"] == [flipped] and found["to_copy"] == 3

    healed = dro("repair", "--repo", f"file://{primary.root}", "--from", replica_url, "--json")
    assert healed.returncode == 0, healed.stderr
    doc = json.loads(healed.stdout)
    assert doc["counters"]["objects_copied"] == 3 and doc["deleted"] == []
    assert {i.key: primary.get(i.key) for i in primary.list("")} == repo.contents

    # Damage that the replica cannot heal is reported (exit 3), not hidden.
    junk = b"not in any replica"
    stray = layout.data_key(layout.hash_bytes(junk))
    primary.put(stray, junk + b"!")
    bad = dro("repair", "--repo", f"file://{primary.root}", "--from", replica_url, "--json")
    assert bad.returncode == 3
    assert json.loads(bad.stdout)["unrecoverable"] == [stray]


@pytest.mark.services
def test_sigkill_mid_upload_to_sftp_leaves_a_temp_file_that_a_later_run_sweeps(
        tmp_path: Path, ssh_server: dict[str, object]) -> None:
    src = LocalBackend(tmp_path / "src")
    repo = SynthRepo(src).init()
    rng = random.Random(9)
    for _ in range(3):
        repo.add_snapshot(n_packs=3, size=512 * 1024, rng=rng)
    root = Path(f"/tmp/dro-kill-sftp-{uuid.uuid4().hex[:10]}")  # the server's disk is this machine's
    target = (f"sftp://root@127.0.0.1:{ssh_server['ports'][0]}{root}"  # type: ignore[index]
              f"?key=file:{ssh_server['key']}&known_hosts={ssh_server['known_hosts']}")
    base = ["replicate", "--from", f"file://{src.root}", "--to", target, "--json"]

    def temps() -> list[Path]:
        return sorted(root.rglob(".dro-tmp-*"))

    def replicate() -> dict[str, object]:
        run = dro(*base)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)  # type: ignore[no-any-return]

    try:
        # One upload at a time, slowed down: killed while a pack is being written.
        proc = subprocess.Popen([sys.executable, "-m", "dr_orchestrator.cli.main", *base, "--workers", "1",
                                 "--bandwidth-limit", "1MiB"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={k: v for k, v in os.environ.items() if k != "DRO_PASSWORD"})
        deadline = time.monotonic() + 60
        while proc.poll() is None and not temps() and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        leaked = temps()
        assert len(leaked) == 1, "the killed upload's temp file stays on the server"

        fresh = replicate()  # right after: it may be a live writer's, so it is kept
        assert fresh["ok"] and fresh["stale_temp_files_removed"] == 0 and temps() == leaked

        past = time.time() - 2 * 24 * 3600
        os.utime(leaked[0], (past, past))  # a day later: abandoned
        repo.add_snapshot(n_packs=1, size=64 * 1024, rng=rng)
        swept = replicate()
        assert swept["ok"] and swept["stale_temp_files_removed"] == 1 and swept["warnings"] == []
        assert swept["counters"]["objects_copied"] == 3  # type: ignore[index]  # the new pack, index, snapshot
        assert temps() == []
        replica = LocalBackend(root, create=False)  # the same files, read directly
        assert {i.key: replica.get(i.key) for i in replica.list("")} == repo.contents
        assert incomplete_snapshots(replica) == {}
    finally:
        shutil.rmtree(root, ignore_errors=True)
