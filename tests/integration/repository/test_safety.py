"""Restores never write outside the target; locks; wrong password (local repository)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dr_orchestrator.errors import BadInput, IntegrityError, LockHeld
from dr_orchestrator.repository import Repository
from dr_orchestrator.repository.archiver import Archiver
from dr_orchestrator.repository.crypto import object_name, seal_doc
from dr_orchestrator.repository.format import snapshot_key
from dr_orchestrator.repository.locks import RepoLock, list_locks, remove_locks
from dr_orchestrator.repository.snapshot import Snapshot
from dr_orchestrator.repository.tree import Node


def _craft(repo: Repository, root_nodes: list[Node], sub: dict[str, list[Node]] | None = None) -> Snapshot:
    """Write a snapshot whose trees say whatever we want (bypassing the archiver's checks)."""
    arch = Archiver(repo)
    for n in root_nodes:
        if n.type == "dir" and sub and n.name in sub:
            n.subtree = arch.store_tree(sub[n.name])
        if n.type == "file" and n.content == ["DATA"]:
            n.content = [arch._store("D", b"evil payload", arch.data_packer).hex()]
            n.size = 12
    tree = arch.store_tree(root_nodes)
    arch.data_packer.flush()
    arch.tree_packer.flush()
    arch.pool.shutdown()
    arch.uploader.close()
    repo.index.write_new(repo.backend, repo.keys)
    snap = Snapshot(id="", time=datetime.now(UTC), hostname="h", paths=["/x"], tags=[], tree=tree)
    stored = seal_doc(repo.keys, "snapshot", snap.to_doc())
    snap.id = object_name(stored)
    repo.backend.put(snapshot_key(snap.id), stored)
    return snap


@pytest.mark.parametrize("name", ["..", "../../etc/passwd", "/abs", "a/b", ".", ""])
def test_crafted_names_are_refused(local_repo: Repository, tmp_path: Path, name: str) -> None:
    snap = _craft(local_repo, [Node(name=name, type="file", content=["DATA"])])
    target = tmp_path / "t" / "target"
    with pytest.raises(IntegrityError, match="unsafe file name"):
        local_repo.restore(snap, str(target))
    assert not any(p.name == "passwd" for p in tmp_path.rglob("*"))


def test_symlink_then_directory_of_same_name_is_refused(local_repo: Repository, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    snap = _craft(local_repo, [Node(name="d", type="symlink", target=str(outside)),
                               Node(name="d", type="dir")],
                  {"d": [Node(name="f", type="file", content=["DATA"])]})
    with pytest.raises(IntegrityError, match="twice"):
        local_repo.restore(snap, str(tmp_path / "target"))
    assert list(outside.iterdir()) == []


def test_existing_symlink_in_target_is_not_followed(local_repo: Repository, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "d")
    os.symlink(outside / "victim", target / "f")
    snap = _craft(local_repo, [Node(name="d", type="dir"), Node(name="f", type="file", content=["DATA"])],
                  {"d": [Node(name="g", type="file", content=["DATA"])]})
    with pytest.raises(BadInput, match="not a directory"):
        local_repo.restore(snap, str(target))
    assert list(outside.iterdir()) == []
    snap2 = _craft(local_repo, [Node(name="f", type="file", content=["DATA"])])
    local_repo.restore(snap2, str(target))
    assert (target / "f").read_bytes() == b"evil payload" and not (target / "f").is_symlink()
    assert list(outside.iterdir()) == []


def test_exclusive_lock_blocks_and_stale_lock_expires(local_repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    backend = local_repo.backend
    with RepoLock(backend, exclusive=False, purpose="backup"):
        with pytest.raises(LockHeld, match="shared lock for backup"):
            local_repo.prune()
        local_repo.backup([str(src)])  # shared + shared is fine
    # A crashed exclusive holder: its lock has a short ttl and no heartbeat.
    crashed = RepoLock(backend, exclusive=True, purpose="prune", ttl=timedelta(seconds=1))
    crashed.key = crashed._write()
    with pytest.raises(LockHeld):
        local_repo.backup([str(src)])
    import time

    time.sleep(1.2)
    assert local_repo.backup([str(src)]).summary["files_unmodified"] == 1
    assert len(remove_locks(backend)) == 1
    assert list_locks(backend) == []


def test_heartbeat_refreshes_lock(local_repo: Repository) -> None:
    lk = RepoLock(local_repo.backend, exclusive=True, purpose="t", ttl=timedelta(seconds=1)).acquire()
    try:
        first = lk.key
        import time

        time.sleep(0.6)
        locks = list_locks(local_repo.backend)
        assert len(locks) == 1 and locks[0].key != first and not locks[0].stale(datetime.now(UTC))
        lk.check()
    finally:
        lk.release()
    assert list_locks(local_repo.backend) == []


def test_read_data_subset_rotates_over_all_packs(local_repo: Repository, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"{i}.bin").write_bytes(os.urandom(300_000))
    local_repo.config = type(local_repo.config)(id=local_repo.config.id, created=local_repo.config.created,
                                                pack_size=200_000)
    local_repo.backup([str(src)])
    packs = set(local_repo.index.packs)
    assert len(packs) >= 4
    read: list[str] = []
    from dr_orchestrator.repository import verify as verify_mod

    real = verify_mod.Verifier._read_pack

    def spy(self: verify_mod.Verifier, pid: str) -> tuple[list[str], set[bytes], int]:
        read.append(pid)
        return real(self, pid)

    monkeypatch.setattr(verify_mod.Verifier, "_read_pack", spy)
    for _ in range(4):
        rep = local_repo.verify(0.25)
        assert rep.ok and rep.packs_read == -(-len(packs) // 4)
    assert set(read) == packs


def test_find_snapshot_at_time(local_repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("1")
    s1 = local_repo.backup([str(src)])
    (src / "a").write_text("2")
    s2 = local_repo.backup([str(src)])
    assert local_repo.find_snapshot("latest").id == s2.id
    assert local_repo.find_snapshot("latest", at=s1.time).id == s1.id
    assert local_repo.find_snapshot(s1.id[:10]).id == s1.id
    with pytest.raises(BadInput):
        local_repo.find_snapshot("latest", at=s1.time - timedelta(days=1))
    local_repo.restore(s2, str(tmp_path / "out"), includes=[f"{src}/a"])
    assert (tmp_path / "out" / str(src).lstrip("/") / "a").read_text() == "2"


def test_damaged_index_is_reported_and_blocks_prune(local_repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("first")
    local_repo.backup([str(src)])
    (src / "b").write_text("second")
    snap2 = local_repo.backup([str(src)])
    first_index = sorted((tmp_path / "repo" / "index").iterdir(), key=lambda p: p.stat().st_mtime)[0]
    first_index.write_bytes(first_index.read_bytes()[:-1] + b"\x00")
    r2 = Repository.open(local_repo.backend, "correct horse")
    rep = r2.verify()
    assert not rep.ok and any("index object" in e for e in rep.errors)
    with pytest.raises(IntegrityError, match="refusing to prune"):
        r2.prune()
    assert len(list((tmp_path / "repo" / "data").rglob("*"))) > 0
    # The second backup's own index still describes b's chunk: that file restores.
    r2.restore(snap2, str(tmp_path / "out"), includes=[f"{src}/b"])
    assert (tmp_path / "out" / str(src).lstrip("/") / "b").read_text() == "second"


def test_prune_refused_while_a_backup_runs(local_repo: Repository, tmp_path: Path) -> None:
    import contextlib
    import io
    import threading

    from dr_orchestrator.repository import StreamSource

    gate = threading.Event()

    class Slow(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = False

        def readable(self) -> bool:
            return True

        def readinto(self, b: memoryview) -> int:  # type: ignore[override]
            if self.sent:
                return 0
            gate.wait(30)
            self.sent = True
            b[:5] = b"hello"
            return 5

    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(local_repo.backup(
        [], streams=[StreamSource("slow.txt", lambda: contextlib.nullcontext(io.BufferedReader(Slow())))])))
    t.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while not list_locks(local_repo.backend) and datetime.now(UTC) < deadline:
            import time

            time.sleep(0.01)
        with pytest.raises(LockHeld):
            Repository.open(local_repo.backend, "correct horse").prune()
    finally:
        gate.set()
        t.join()
    assert isinstance(result[0], Snapshot)
    assert Repository.open(local_repo.backend, "correct horse").prune().packs_deleted == 0


def test_unchanged_trees_are_reused_and_metadata_changes_recorded(local_repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a" / "deep").mkdir(parents=True)
    (src / "b").mkdir()
    (src / "a" / "deep" / "x.txt").write_text("x" * 1000)
    (src / "a" / "y.txt").write_text("y")
    (src / "b" / "z.txt").write_text("z")
    os.symlink("y.txt", src / "a" / "link")
    first = local_repo.backup([str(src)])
    again = local_repo.backup([str(src)])
    assert again.tree == first.tree  # nothing changed: the very same trees, nothing re-encoded
    assert (again.summary["files_unmodified"], again.summary["blobs_new"]) == (3, 0)

    def subtree(snap: Snapshot, *parts: str) -> str | None:
        node = local_repo.find_node(snap, str(src / Path(*parts)))
        return node.subtree

    os.chmod(src / "a" / "deep" / "x.txt", 0o600)  # metadata only (and ctime: the file is re-read)
    third = local_repo.backup([str(src)])
    assert third.tree != first.tree
    assert (third.summary["files_unmodified"], third.summary["files_changed"]) == (2, 1)
    assert subtree(third, "b") == subtree(first, "b")
    assert subtree(third, "a", "deep") != subtree(first, "a", "deep")
    assert local_repo.find_node(third, str(src / "a" / "deep" / "x.txt")).mode == 0o600
    out = tmp_path / "out"
    local_repo.restore(third, str(out))
    restored = out / str(src).lstrip("/")
    assert (restored / "a" / "deep" / "x.txt").stat().st_mode & 0o777 == 0o600
    assert os.readlink(restored / "a" / "link") == "y.txt"


def test_deferred_directory_trees_round_trip(local_repo: Repository, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Trees of directories whose files are still being stored are written later (bounded);
    with a bound of 1 every path through that code runs."""
    from dr_orchestrator.repository import archiver as archiver_mod

    monkeypatch.setattr(archiver_mod, "_DEFER_DIRS", 1)
    src = tmp_path / "src"
    for i in range(4):
        for j in range(3):
            d = src / f"p{i}" / f"m{j}"
            d.mkdir(parents=True)
            for k in range(5):
                (d / f"f{k}.txt").write_text(f"{i}/{j}/{k} " * (100 * k + 1))
        (src / f"p{i}" / "top.txt").write_text("top" * i)
    first = local_repo.backup([str(src)])
    assert first.summary["files"] == 64
    again = local_repo.backup([str(src)])
    assert again.tree == first.tree
    out = tmp_path / "out"
    local_repo.restore(first, str(out))
    restored = out / str(src).lstrip("/")
    for p in src.rglob("*"):
        if p.is_file():
            assert (restored / p.relative_to(src)).read_bytes() == p.read_bytes()
