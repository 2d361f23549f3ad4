"""Replicator logic on local directories: diff, order, integrity, hold-back, retention."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import pytest

from dr_orchestrator.errors import BadInput, ObjectLocked
from dr_orchestrator.replication import layout
from dr_orchestrator.replication.options import Options
from dr_orchestrator.replication.replicator import replicate
from dr_orchestrator.storage.local import LocalBackend
from tests.unit.replication.synth import (
    FakeGraph,
    SynthRepo,
    flip_byte,
    incomplete_snapshots,
    stored_objects,
    synth_repo,
)


@pytest.fixture(autouse=True)
def _both_listing_modes(listing_mode: str) -> None:
    """Every test here runs with the listing cache and with full listings (conftest.py)."""


@pytest.fixture
def repo(tmp_path: Path) -> SynthRepo:
    return synth_repo(LocalBackend(tmp_path / "src"), packs=4, rng=random.Random(7))


def test_full_copy_is_identical_and_rerun_sends_nothing(repo: SynthRepo, tmp_path: Path) -> None:
    dst = LocalBackend(tmp_path / "dst")
    rep = replicate(repo.backend, dst)
    assert rep.ok, rep.to_dict()
    assert stored_objects(dst) == repo.contents
    assert rep.counters.objects_copied == len(repo.contents) == rep.to_copy
    assert rep.counters.objects_verified == len([k for k in repo.contents if layout.expected_hash(k)])
    assert len(rep.snapshots_copied) == 3

    again = replicate(repo.backend, dst)
    assert again.to_copy == 0 and again.counters.objects_copied == 0
    assert again.already_present == len(repo.contents)


def test_incremental_sends_only_new_objects(repo: SynthRepo, tmp_path: Path) -> None:
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst)
    before = set(repo.contents)
    sid = repo.add_snapshot(n_packs=2)
    new = set(repo.contents) - before
    rep = replicate(repo.backend, dst)
    assert rep.counters.objects_copied == len(new) == 4  # 2 packs, 1 index, 1 snapshot
    assert rep.snapshots_copied == [sid]
    assert rep.counters.bytes_streamed == sum(len(repo.contents[k]) for k in new)


class RecordingBackend(LocalBackend):
    """Records each put and checks, at the moment a snapshot lands, that it is complete."""

    def __init__(self, root: Path, source: LocalBackend) -> None:
        super().__init__(root)
        self.order: list[str] = []
        self.source = source
        self.violations: list[str] = []

    def put(self, key, data, *, if_absent=False, retain_until=None):  # type: ignore[override]
        if key.startswith("snapshots/"):
            from tests.unit.replication.synth import snapshot_needs

            need = snapshot_needs(self.source, key.split("/")[1])
            have = {i.key for i in self.list("")}
            if need - have:
                self.violations.append(key)
        self.order.append(key)
        super().put(key, data, if_absent=if_absent, retain_until=retain_until)


def test_commit_order_and_snapshot_completeness(repo: SynthRepo, tmp_path: Path) -> None:
    dst = RecordingBackend(tmp_path / "dst", repo.backend)
    replicate(repo.backend, dst, Options(workers=4))
    rank = {"data": 0, "index": 1, "keys": 2, "config": 2, "snapshots": 3}
    ranks = [rank[layout.kind_of(k).value] for k in dst.order]
    assert ranks == sorted(ranks)
    assert dst.violations == []
    assert incomplete_snapshots(dst) == {}


def test_corrupt_source_pack_is_not_propagated_and_holds_back_snapshots(repo: SynthRepo,
                                                                       tmp_path: Path) -> None:
    bad_pack = layout.data_key(repo.packs[-1])  # only the newest snapshot needs it
    flip_byte(str(repo.backend.root / bad_pack))
    dst = LocalBackend(tmp_path / "dst")
    rep = replicate(repo.backend, dst)
    assert rep.source_corrupt == [bad_pack]
    assert not (dst.root / bad_pack).exists()
    # Without the password every new snapshot is held back, and the report says why.
    assert rep.snapshots_copied == [] and len(rep.snapshots_held_back) == 3
    assert "password" in next(iter(rep.snapshots_held_back.values()))
    assert not rep.ok

    # With the index (password), only the snapshot that needs the bad pack waits.
    dst2 = LocalBackend(tmp_path / "dst2")
    rep2 = replicate(repo.backend, dst2, Options(graph=FakeGraph(repo.backend)))
    assert list(rep2.snapshots_held_back) == [repo.snapshots[-1]]
    # only the index object that names the bad pack waits too (the target still verifies)
    assert [k for k in rep2.objects_held_back] == [
        k for k in repo.contents if k.startswith("index/") and repo.packs[-1] in repo.contents[k].decode()]
    assert sorted(rep2.snapshots_copied) == sorted(repo.snapshots[:-1])
    assert incomplete_snapshots(dst2) == {}


def test_large_corrupt_object_streamed_without_buffering_is_not_written(repo: SynthRepo,
                                                                        tmp_path: Path) -> None:
    bad_pack = layout.data_key(repo.packs[0])
    flip_byte(str(repo.backend.root / bad_pack), offset=2000)
    dst = LocalBackend(tmp_path / "dst")
    rep = replicate(repo.backend, dst, Options(in_memory_max=1024))  # every pack goes via the reader
    assert rep.source_corrupt == [bad_pack]
    assert not (dst.root / bad_pack).exists()
    assert not [p for p in (dst.root / "data").rglob("*") if p.name.startswith(".dro-tmp")]
    # minus the bad pack, the snapshots, and (no password: cannot tell which) every new index
    assert rep.counters.objects_streamed == len(repo.contents) - 1 - 3 - 3
    assert rep.objects_held_back == sorted(k for k in repo.contents if k.startswith("index/"))


def test_damaged_target_object_is_resent(repo: SynthRepo, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Damage *in place* (the directory unchanged) is seen from sizes only by a full
    # listing: the cache trusts an unchanged directory (test_listing_cache.py).
    monkeypatch.setenv("DRO_LISTING_CACHE", "0")
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst)
    truncated, flipped = layout.data_key(repo.packs[0]), layout.data_key(repo.packs[1])
    (dst.root / truncated).write_bytes(b"short")
    flip_byte(str(dst.root / flipped))
    rep = replicate(repo.backend, dst)
    assert rep.resent_corrupt_target == [truncated]  # size differs: seen from the listing
    deep = replicate(repo.backend, dst, Options(deep=True))  # same size, wrong bytes: needs hashing
    assert deep.resent_corrupt_target == [flipped]
    assert stored_objects(dst) == repo.contents


def test_refuses_a_target_holding_another_repository(repo: SynthRepo, tmp_path: Path) -> None:
    other = SynthRepo(LocalBackend(tmp_path / "other")).init()
    with pytest.raises(BadInput, match="different repository"):
        replicate(repo.backend, other.backend)


def test_source_without_repository_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no repository"):
        replicate(LocalBackend(tmp_path / "empty"), LocalBackend(tmp_path / "dst"))


def test_verify_before_replicate_filter_holds_back(repo: SynthRepo, tmp_path: Path) -> None:
    dst = LocalBackend(tmp_path / "dst")
    unverified = repo.snapshots[1]

    def only_verified(ids: list[str]) -> dict[str, str]:
        return {unverified: "not verified yet"} if unverified in ids else {}

    rep = replicate(repo.backend, dst, Options(snapshot_filter=only_verified))
    assert rep.snapshots_held_back == {unverified: "not verified yet"}
    assert not (dst.root / "snapshots" / unverified).exists()
    assert (dst.root / "snapshots" / repo.snapshots[0]).exists()


def test_dry_run_writes_nothing(repo: SynthRepo, tmp_path: Path) -> None:
    dst = LocalBackend(tmp_path / "dst")
    rep = replicate(repo.backend, dst, Options(dry_run=True))
    assert rep.to_copy == len(repo.contents) and rep.counters.objects_copied == 0
    assert sorted(rep.snapshots_new) == sorted(repo.snapshots)
    assert list(dst.list("")) == []


def test_stop_request_leaves_nothing_partial(repo: SynthRepo, tmp_path: Path) -> None:
    stop = threading.Event()
    dst = LocalBackend(tmp_path / "dst")

    class Stopper:
        n = 0

        def phase(self, name: str, objects: int, nbytes: int) -> None:
            pass

        def advance(self, objects: int, nbytes: int) -> None:
            Stopper.n += 1
            if Stopper.n == 3:
                stop.set()

    rep = replicate(repo.backend, dst, Options(workers=1, stop=stop, progress=Stopper()))
    assert rep.stopped and not rep.ok
    assert list(dst.list("snapshots/")) == []
    for info in dst.list(""):
        assert dst.get(info.key) == repo.contents[info.key]


class LockingBackend(LocalBackend):
    locked: set[str] = set()

    def delete(self, key: str) -> None:
        if key in self.locked:
            raise ObjectLocked(f"{key} is retained")
        super().delete(key)


def test_mirror_deletes_snapshots_and_prunes_only_with_the_index(tmp_path: Path) -> None:
    repo = SynthRepo(LocalBackend(tmp_path / "src")).init()
    for _ in range(3):
        repo.add_snapshot(n_packs=3, cumulative=False)
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst)
    gone_snap = repo.snapshots[0]
    repo.backend.delete(f"snapshots/{gone_snap}")
    # "prune": drop what only the forgotten snapshot needed (its packs and index)
    first_index = json.loads(repo.contents[f"snapshots/{gone_snap}"])["index"][0]
    pruned = {layout.data_key(p) for p in json.loads(repo.contents[f"index/{first_index}"])["packs"]}
    for p in pruned:
        repo.backend.delete(p)
    repo.backend.delete(f"index/{first_index}")

    rep = replicate(repo.backend, dst)
    assert rep.deleted == [f"snapshots/{gone_snap}"]
    assert any("password" in w for w in rep.warnings)  # packs kept without the index
    assert all((dst.root / p).exists() for p in pruned)

    rep2 = replicate(repo.backend, dst, Options(graph=FakeGraph(repo.backend)))
    assert sorted(rep2.deleted) == sorted(pruned | {f"index/{first_index}"})
    assert incomplete_snapshots(dst) == {}


def test_mirror_deletes_keeps_immutable_and_refuses_empty_source(repo: SynthRepo, tmp_path: Path) -> None:
    dst = LockingBackend(tmp_path / "dst")
    replicate(repo.backend, dst)
    LockingBackend.locked = {f"snapshots/{repo.snapshots[0]}"}
    repo.backend.delete(f"snapshots/{repo.snapshots[0]}")
    rep = replicate(repo.backend, dst)
    assert rep.kept_immutable == [f"snapshots/{repo.snapshots[0]}"] and rep.deleted == []

    for sid in repo.snapshots[1:]:
        repo.backend.delete(f"snapshots/{sid}")
    rep = replicate(repo.backend, dst)
    assert rep.deleted == [] and any("no snapshot" in w for w in rep.warnings)
    assert len(list(dst.list("snapshots/"))) == 3


def test_memory_budget_bounds_buffered_bytes(tmp_path: Path) -> None:
    r = SynthRepo(LocalBackend(tmp_path / "src")).init()
    r.add_snapshot(n_packs=24, size=256 * 1024)
    dst = LocalBackend(tmp_path / "dst")
    from dr_orchestrator.replication.replicator import Replicator

    # The buffered path (what object stores use); dir → dir copies go through one reused
    # buffer per thread and reserve nothing.
    rp = Replicator(r.backend, dst, Options(workers=8, memory_budget=600 * 1024, local_fast=False))
    rep = rp.run()
    assert rep.ok
    assert 0 < rp.transfer.budget.peak <= 600 * 1024


def test_no_temp_files_left(repo: SynthRepo, tmp_path: Path) -> None:
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst)
    leftovers = [n for _, _, files in os.walk(dst.root) for n in files if n.startswith(".dro-tmp")]
    assert leftovers == []


def test_target_written_through_its_backend_gets_its_stale_temp_files_swept(
        repo: SynthRepo, tmp_path: Path, listing_mode: str) -> None:
    """local_fast=False: the target is written by LocalBackend.put, whose temp files the local
    replica writer's sweep does not know; the backend's own sweep (by age) removes them."""
    dst = LocalBackend(tmp_path / "dst")

    def plant(rel: str, age: float) -> Path:
        path = dst.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a pack")
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    stale, fresh = plant("data/ab/.dro-tmp-k1ll3d", 2 * 86400), plant("data/cd/.dro-tmp-l1ve", 60)
    assert replicate(repo.backend, dst, Options(local_fast=False, dry_run=True)).stale_temp_files_removed == 0
    assert stale.exists()
    rep = replicate(repo.backend, dst, Options(local_fast=False))
    assert rep.ok and rep.stale_temp_files_removed == 1 and rep.warnings == []
    assert not stale.exists() and fresh.exists()
    assert stored_objects(dst) == repo.contents and incomplete_snapshots(dst) == {}

    # A run that ended well saved the listing cache: the next one has no killed run to clean up after.
    again = plant("index/.dro-tmp-k1ll3d", 2 * 86400)
    repo.add_snapshot(n_packs=1)
    rep = replicate(repo.backend, dst, Options(local_fast=False))
    cached = listing_mode == "listing-cache"
    assert rep.ok and rep.stale_temp_files_removed == (0 if cached else 1) and again.exists() == cached
    assert stored_objects(dst) == repo.contents


def test_in_process_copies_small_objects_here_and_big_ones_on_two_threads(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A dir → dir batch too small for helper processes: objects of DIRECT_MIN bytes or more
    (O_DIRECT, mostly waiting on the disk) go to two threads, one at a time; the small ones
    are copied by the calling thread (threads only fight over the GIL for them)."""
    from dr_orchestrator.replication import localfast, transfer

    src = synth_repo(LocalBackend(tmp_path / "src"), snapshots=1, packs=3, size=localfast.DIRECT_MIN + 100,
                     rng=random.Random(3))
    src.add_snapshot(n_packs=12, size=2048, rng=random.Random(4))
    by_thread: dict[str, set[int]] = {}
    real = transfer.Transfer.copy

    def copy(self: transfer.Transfer, info, *, stage: bool = False):  # type: ignore[no-untyped-def]
        if layout.kind_of(info.key) is layout.Kind.DATA:
            by_thread.setdefault(threading.current_thread().name, set()).add(info.size)
            if info.size >= localfast.DIRECT_MIN:
                threading.Event().wait(0.05)  # as if waiting on the disk: the other thread takes the next
        return real(self, info, stage=stage)
    monkeypatch.setattr(transfer.Transfer, "copy", copy)
    rep = replicate(src.backend, LocalBackend(tmp_path / "dst"))
    assert rep.ok and stored_objects(LocalBackend(tmp_path / "dst")) == src.contents
    small = by_thread.pop(threading.current_thread().name)
    assert small and max(small) < localfast.DIRECT_MIN
    assert len(by_thread) == 2 and all(n.startswith("dro-direct") for n in by_thread)  # the big ones
    assert all(min(sizes) >= localfast.DIRECT_MIN for sizes in by_thread.values())


def test_options_replace_copies_and_rejects_unknown_names() -> None:
    base = Options(workers=3)
    changed = base.replace(deep=True, mirror_deletes=False)
    assert (changed.workers, changed.deep, changed.mirror_deletes) == (3, True, False)
    assert (base.deep, base.mirror_deletes) == (False, True)  # the original is untouched
    assert changed.stop is base.stop  # one stop request reaches both, as with dataclasses.replace
    with pytest.raises(TypeError, match="no wrokers"):
        base.replace(wrokers=2)


def test_a_sweep_that_fails_is_a_warning_not_a_failed_replication(
        repo: SynthRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sweeping temp files is housekeeping: an error nobody expected (here from the
    backend's sweep) is reported, and the replication itself goes on and succeeds."""
    def broken(self: LocalBackend, older_than: float) -> tuple[int, list[str]]:
        raise RuntimeError("the server answered something odd")
    monkeypatch.setattr(LocalBackend, "sweep_temps", broken)
    dst = LocalBackend(tmp_path / "dst")
    rep = replicate(repo.backend, dst, Options(local_fast=False))
    assert rep.ok and rep.stale_temp_files_removed == 0
    assert rep.warnings == ["stale temp files: RuntimeError: the server answered something odd"]
    assert stored_objects(dst) == repo.contents
