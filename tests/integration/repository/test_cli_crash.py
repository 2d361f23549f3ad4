"""The CLI as a user runs it: SIGKILL at random points, flipped bytes (exit 3, file named), --json."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.repository.helpers import assert_same_tree

DRO = [sys.executable, "-m", "dr_orchestrator.cli.main"]


def _env(repo: Path) -> dict[str, str]:
    return {**os.environ, "DRO_PASSWORD": "pw-for-tests", "DRO_REPO": str(repo)}


def dro(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([*DRO, *args], env=_env(repo), capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"dro {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def _entries(repo: Path) -> int:
    """Objects and in-flight temp files under data/ and index/."""
    return sum(1 for d in ("data", "index") if (repo / d).exists() for _ in (repo / d).rglob("*"))


def _count_snapshots(repo: Path) -> int:
    # Committed snapshots only: a put killed midway leaves a hidden temp file, never an object.
    return len([p for p in (repo / "snapshots").glob("*") if not p.name.startswith(".")]) \
        if (repo / "snapshots").exists() else 0


def _dataset(src: Path, rnd: random.Random) -> None:
    (src / "small").mkdir(parents=True, exist_ok=True)
    for i in range(100):
        (src / "small" / f"f{i}.txt").write_text(f"file {i} " * rnd.randint(10, 3000))
    for i in range(3):
        (src / f"big{i}.bin").write_bytes(rnd.randbytes(8 << 20))


def _fresh(src: Path, rnd: random.Random, i: int) -> None:
    """New content every round so each run has real work to be killed in."""
    for j in range(3):
        (src / f"big{j}.bin").write_bytes(rnd.randbytes(8 << 20))
    (src / "small" / f"f{i % 100}.txt").write_text(f"round {i}")


def test_sigkill_at_random_points_never_damages_the_repository(tmp_path: Path) -> None:
    rnd = random.Random(int(os.environ.get("DRO_CRASH_SEED", "4")))
    repo, src = tmp_path / "repo", tmp_path / "src"
    _dataset(src, rnd)
    dro(repo, "repo", "init")
    # How long one such backup takes on this machine now (fast idle, slow under load): the
    # kill points are spread over that span, so they land inside the run on any machine.
    _fresh(src, rnd, 100)
    start = time.monotonic()
    dro(repo, "backup", str(src))
    span = time.monotonic() - start
    killed_with_data = uncommitted = 0
    snaps_before = _count_snapshots(repo)
    for i in range(20):
        _fresh(src, rnd, i)
        before = _entries(repo)
        proc = subprocess.Popen([*DRO, "backup", str(src)], env=_env(repo), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if i % 3 == 2:  # anywhere, startup included
            time.sleep(rnd.uniform(0.05, 0.9) * span)
        else:  # once the run writes packs (the machine may be slow to start it), a bit later
            deadline = time.monotonic() + 120
            while _entries(repo) == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rnd.uniform(0.0, 0.25) * span)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_with_data += _entries(repo) != before
        snaps_now = _count_snapshots(repo)
        uncommitted += snaps_now == snaps_before
        snaps_before = snaps_now
        v = dro(repo, "verify", "--read-data", "--json", check=False)
        assert v.returncode == 0, f"round {i}: {v.stdout} {v.stderr}"
        assert json.loads(v.stdout)["ok"] is True
    assert killed_with_data >= 5, "the kills should land while packs are being written"
    assert uncommitted >= 5, "most kills should land before the snapshot is committed"
    done = json.loads(dro(repo, "backup", str(src), "--json").stdout)
    assert done["summary"]["files"] == 103
    assert dro(repo, "verify", "--read-data").returncode == 0
    dro(repo, "restore", "latest", "--target", str(tmp_path / "out"))
    assert_same_tree(src, tmp_path / "out" / str(src).lstrip("/"))
    snaps = json.loads(dro(repo, "snapshots", "--json").stdout)
    assert len(snaps) == snaps_before + 1  # a killed run commits all or nothing


def test_flipped_byte_exit_3_names_the_file(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "precious.db").write_bytes(os.urandom(2 << 20))
    (src / "other.txt").write_text("fine")
    dro(repo, "repo", "init")
    dro(repo, "backup", str(src), "--tag", "t")
    packs = sorted((repo / "data").rglob("*"), key=lambda p: p.stat().st_size)
    pack = [p for p in packs if p.is_file()][-1]  # the data pack
    data = bytearray(pack.read_bytes())
    data[100] ^= 1
    pack.write_bytes(bytes(data))
    v = dro(repo, "verify", "--read-data", check=False)
    assert v.returncode == 3
    assert "precious.db" in v.stderr
    r = dro(repo, "restore", "latest", "--target", str(tmp_path / "out"), check=False)
    assert r.returncode == 3
    assert "precious.db" in r.stderr
    assert dro(repo, "verify", check=False).returncode == 0  # structure alone is intact


def test_cli_json_ls_diff_forget(tmp_path: Path) -> None:
    repo, src = tmp_path / "repo", tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    dro(repo, "repo", "init")
    s1 = json.loads(dro(repo, "backup", str(src), "--json").stdout)
    (src / "b.txt").write_text("b")
    s2 = json.loads(dro(repo, "backup", str(src), "--json").stdout)
    d = json.loads(dro(repo, "diff", s1["id"][:8], s2["id"][:8], "--json").stdout)
    assert d["added"] == [f"{src}/b.txt"]
    rows = json.loads(dro(repo, "ls", "latest", str(src), "--json").stdout)
    assert [r["path"] for r in rows] == [f"{src}/a.txt", f"{src}/b.txt"]
    f = json.loads(dro(repo, "forget", "--keep-last", "1", "--dry-run", "--json").stdout)
    assert [x["id"] for x in f["remove"]] == [s1["id"]]
    f = json.loads(dro(repo, "forget", "--keep-last", "1", "--prune", "--json").stdout)
    assert f["prune"]["dry_run"] is False
    assert [s["id"] for s in json.loads(dro(repo, "snapshots", "--json").stdout)] == [s2["id"]]
    bad = dro(repo, "snapshots", check=False)
    assert bad.returncode == 0
    env = {**_env(repo), "DRO_PASSWORD": "nope"}
    wrong = subprocess.run([*DRO, "snapshots"], env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "password" in wrong.stderr
    assert "nope" not in wrong.stderr + wrong.stdout


def test_backup_runbook_data_class(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "a.txt").write_text("hello")
    rb = tmp_path / "rb.yaml"
    rb.write_text(f"""apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {{name: t, owner: me}}
rto: 15m
sites:
  primary: {{provider: local, role: primary, storage: "file://{tmp_path}/storage", hosts: {{app: {{local: true}}}}}}
data_classes:
  files:
    rpo: 1h
    schedule: "0 * * * *"
    retention: {{keep_last: 3}}
    source_site: primary
    sources: [{{type: paths, name: f, path: "{files}"}}]
services: {{}}
""")
    out = json.loads(dro(tmp_path / "unused", "backup", str(rb), "--data-class", "files", "--json").stdout)
    assert out["tags"] == ["files"] and out["summary"]["files"] == 1
    snaps = json.loads(dro(tmp_path / "storage" / "files", "snapshots", "--json").stdout)
    assert [s["id"] for s in snaps] == [out["id"]]
