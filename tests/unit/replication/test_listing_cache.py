"""The listing cache of local directories (replication/listcache.py): what it may answer,
when it must read again, and that a replica is never judged complete when it is not."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import blake3
import pytest

from dr_orchestrator.replication import layout, listcache
from dr_orchestrator.replication.listcache import Block, DirCache, read_dir
from dr_orchestrator.replication.options import Options
from dr_orchestrator.replication.replicator import Replicator, replicate
from dr_orchestrator.storage.local import LocalBackend
from tests.unit.replication.synth import FakeGraph, SynthRepo, synth_repo


@pytest.fixture
def repo(tmp_path: Path) -> SynthRepo:
    return synth_repo(LocalBackend(tmp_path / "src"), packs=6, rng=random.Random(11))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Directories actually read (not answered from the cache); no racy window, so that a
    directory written a moment ago can be trusted by the next run of the test."""
    monkeypatch.setattr(listcache, "RACY_NS", 0)
    monkeypatch.setattr(listcache, "RACY_FINE_NS", 0)
    seen: list[str] = []
    real = listcache.read_dir

    def counting(path: str, rel: str, old: Block | None, *, reuse: bool = True) -> Block | None:
        block = real(path, rel, old, reuse=reuse)
        if block is not None and block.read:
            seen.append(rel)
        return block
    monkeypatch.setattr(listcache, "read_dir", counting)
    return seen


def settle() -> None:
    # File-system timestamps come from a coarse clock: let it tick past what was just written.
    time.sleep(0.05)


def warm(repo: SynthRepo, dst: LocalBackend) -> None:
    """Two runs: the first fills the target, the second its listing cache (then the clock ticks)."""
    replicate(repo.backend, dst)
    settle()
    replicate(repo.backend, dst)
    settle()


def cache_file(root: Path) -> Path:
    return DirCache(root).path


def test_unchanged_rerun_reads_no_directory_and_agrees_with_a_full_listing(
        repo: SynthRepo, tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    dst = LocalBackend(tmp_path / "dst")
    first = replicate(repo.backend, dst)
    assert first.ok and cache_file(dst.root).exists() and cache_file(repo.backend.root).exists()
    settle()
    replicate(repo.backend, dst)  # reads what the first run wrote (written a moment ago) once
    settle()
    reads.clear()
    cached = replicate(repo.backend, dst)
    assert reads == []
    assert cached.ok and cached.to_copy == 0 and cached.counters.objects_copied == 0
    monkeypatch.setenv("DRO_LISTING_CACHE", "0")
    full = replicate(repo.backend, dst)
    for field in ("source_objects", "target_objects_before", "already_present", "to_copy"):
        assert getattr(cached, field) == getattr(full, field) == (0 if field == "to_copy" else len(repo.contents))


def test_new_objects_are_found_and_only_changed_directories_read(repo: SynthRepo, tmp_path: Path,
                                                                  reads: list[str]) -> None:
    dst = LocalBackend(tmp_path / "dst")
    warm(repo, dst)
    before = set(repo.contents)
    sid = repo.add_snapshot(n_packs=2)
    new = set(repo.contents) - before
    settle()
    reads.clear()
    rep = replicate(repo.backend, dst)
    assert rep.ok and rep.counters.objects_copied == len(new) == 4 and rep.snapshots_copied == [sid]
    assert all((dst.root / k).exists() for k in new)
    changed = {k.rsplit("/", 1)[0] for k in new} | {"data"}  # data/: maybe a new subdirectory
    assert set(reads) <= changed  # source and target before, target again after writing
    assert "keys" not in reads


def test_racy_directory_is_read_again_and_a_settled_one_is_trusted(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_bytes(b"12345")
    st = os.stat(d)
    stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    wrong = dict(names=["zzz"], sizes=[1])
    # Taken when the directory last changed (within its file system's racy margin): a change
    # in the same clock tick would carry the same stamp, so the names are read again.
    racy = Block("d", stamp, max(stamp[:2]), [], fresh=False, read=False, **wrong)  # type: ignore[arg-type]
    got = read_dir(str(d), "d", racy)
    assert got is not None and got.read and got.names == ["a"] and got.sizes == [5]
    # Taken well after: the stamp vouches for the entries (this is what the cache relies on).
    settled = Block("d", stamp, max(stamp[:2]) + 3 * listcache.RACY_NS, [], fresh=False, read=False,
                    **wrong)  # type: ignore[arg-type]
    assert read_dir(str(d), "d", settled) is settled


def test_the_racy_margin_follows_the_stamps_granularity_and_clock(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    local = os.stat(tmp_path).st_dev
    if listcache.fs_type(local) not in listcache.LOCAL_FS:
        pytest.skip("the temporary directory is not on a local file system here")
    unknown = os.makedev(4095, 4095)  # no such mount: another machine's clock, for all we know
    fine = (1_700_000_000_123_456_789, 1_700_000_000_123_456_789, 1)
    whole = (1_700_000_000_000_000_000, 1_700_000_000_000_000_000, 1)
    here = 0 if listcache.fs_type(local) in listcache.EXACT_FS else listcache.RACY_FINE_NS
    for stamp, dev, margin in ((fine, local, here), (whole, local, listcache.RACY_NS),
                               (fine, unknown, listcache.RACY_NS)):
        at = max(stamp[:2])
        assert Block("d", stamp, at + margin, [], fresh=False, read=False, names=[], sizes=[]).racy(dev)
        assert not Block("d", stamp, at + margin + 1, [], fresh=False, read=False, names=[], sizes=[]).racy(dev)
    # By file system type: nanosecond stamps of this kernel's clock, coarser local ones,
    # any other clock; whole-second stamps get the wide margin wherever they come from.
    for kind, margin in (("ext4", 0), ("tmpfs", 0), ("exfat", listcache.RACY_FINE_NS),
                         ("nfs4", listcache.RACY_NS), (None, listcache.RACY_NS)):
        monkeypatch.setattr(listcache, "fs_type", lambda dev, kind=kind: kind)
        assert listcache.racy_margin(local, *fine[:2]) == margin, kind
        assert listcache.racy_margin(local, *whole[:2]) == listcache.RACY_NS, kind
    assert listcache.RACY_FINE_NS < listcache.RACY_NS


def test_fs_type_reads_the_file_system_type_from_mountinfo(tmp_path: Path) -> None:
    dev = os.stat(tmp_path).st_dev
    fstype = next(line.split(" - ", 1)[1].split()[0] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if os.makedev(*map(int, line.split()[2].split(":"))) == dev)
    assert listcache.fs_type(dev) == fstype
    assert listcache.fs_type(os.makedev(4095, 4095)) is None


def test_changes_after_taken_are_stamped_at_or_after_it(tmp_path: Path) -> None:
    """What the racy rule rests on: fs_clock_ns() is the clock this file system stamps
    with, so a change made after reading it never carries an older stamp."""
    d = tmp_path / "d"
    d.mkdir()
    for i in range(300):
        before = listcache.fs_clock_ns()
        (d / f"f{i}").write_bytes(b"")
        st = os.stat(d)
        if not (st.st_mtime_ns % 1_000_000_000 or st.st_ctime_ns % 1_000_000_000):
            continue  # whole-second stamps: RACY_NS applies, nothing to compare at this grain
        assert st.st_mtime_ns >= before and st.st_ctime_ns >= before, (i, before, st.st_mtime_ns)


def test_known_names_keep_their_size_where_names_are_content_addresses(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_bytes(b"12345")
    (d / "b").write_bytes(b"1")
    first = read_dir(str(d), "d", None)
    assert first is not None and first.names == ["a", "b"] and first.sizes == [5, 1] and first.fresh
    (d / "c").write_bytes(b"")
    (d / ".dro-tmp-x").write_bytes(b"123")  # a writer's temp file: never listed
    (d / "sub").mkdir()
    (d / "a").unlink()
    again = read_dir(str(d), "d", first)
    assert again is not None and again.names == ["b", "c"] and again.sizes == [1, 0] and again.subdirs == ["sub"]
    # Outside data/, index/, snapshots/ (keys/), a known name is stat'ed again.
    (d / "b").write_bytes(b"123")
    assert read_dir(str(d), "d", again, reuse=False).sizes == [3, 0]  # type: ignore[union-attr]
    # A re-sent object is forgotten first, so its new size is read.
    cache = DirCache(tmp_path)
    cache.record(again)
    cache.forget(["d/b"])
    assert read_dir(str(d), "d", cache.old("d")).sizes == [3, 0]  # type: ignore[union-attr]


def test_a_directory_that_only_gained_files_is_its_old_block_plus_them(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for name, data in (("b", b"22"), ("d", b"4444")):
        (d / name).write_bytes(data)
    first = read_dir(str(d), "d", None)
    assert first is not None
    cached = Block("d", first.stamp, first.taken, [], fresh=False, read=False, text=first.text(), count=2, nbytes=6)
    (d / "a").write_bytes(b"1")
    (d / "c").write_bytes(b"333")
    (d / ".dro-tmp-x").write_bytes(b"x")  # a writer's temp file is never listed
    grown = read_dir(str(d), "d", cached)
    assert grown is not None and grown.base is cached and grown.added == [("a", 1), ("c", 3)] and grown.fresh
    assert (grown.count, grown.nbytes) == (4, 10)
    full = read_dir(str(d), "d", None)  # what a full read says: both merged views must agree
    assert full is not None and grown.text() == full.text() == ("a/b/c/d", "1,2,3,4")  # merged as strings
    assert grown._names is None  # (the lists were not needed for that)
    assert grown.names == full.names and grown.sizes == full.sizes and grown.same_files(full)
    # A name gone, or a new subdirectory: the general path (a plain block, no base).
    (d / "b").unlink()
    assert read_dir(str(d), "d", grown).base is None  # type: ignore[union-attr]
    (d / "sub").mkdir()
    after = read_dir(str(d), "d", full)
    assert after is not None and after.base is None and after.subdirs == ["sub"]


def test_pair_diff_of_a_grown_source_directory_lists_only_the_new_files(repo: SynthRepo, tmp_path: Path,
                                                                       reads: list[str]) -> None:
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst, Options())
    replicate(repo.backend, dst, Options())  # caches of both ends settled
    repo.add_snapshot(n_packs=3, rng=random.Random(5))
    src_cache, dst_cache = DirCache(repo.backend.root), DirCache(dst.root)
    from dr_orchestrator.replication.listing import list_local_pair

    src, tgt, same = list_local_pair(repo.backend, dst, src_cache, dst_cache)
    full_src = {i.key for i in repo.backend.list("")}
    full_dst = {i.key for i in dst.list("")}
    assert any(b.base is not None for b in src_cache.blocks.values())  # the delta path ran
    # Every source object is either listed or counted in sync, and in-sync ones are at the target.
    assert set(src) | same.keys() == full_src and not set(src) & same.keys()
    assert same.keys() <= full_dst and same.count == len(same.keys())
    missing = {k for k in full_src - full_dst}
    assert missing and missing <= set(src)
    assert all(k in full_dst for k in tgt)


def test_the_cache_file_keeps_any_file_name(tmp_path: Path) -> None:
    root = tmp_path / "r"
    odd = ['q"uote', "back\\slash", "new\nline", "tab\tx", "caf\u00e9", "\x7f", os.fsdecode(b"\xff\xfe")]
    (root / "keys").mkdir(parents=True)
    for i, name in enumerate(odd):
        (root / "keys" / name).write_bytes(b"x" * i)
    (root / "keys" / "plain").write_bytes(b"")
    cache = DirCache(root)
    listcache.blocks_under(str(root), "keys/", cache)
    cache.save()
    meta, dirs, _ = read_cache(cache.path)  # well-formed (escapes included)
    assert meta["v"] == listcache.VERSION and any(e[0] == "keys" for e in dirs)
    again = DirCache(root).old("keys")
    assert again is not None and not again.read
    assert dict(zip(again.names, again.sizes, strict=True)) == {**{n: i for i, n in enumerate(odd)}, "plain": 0}


def test_a_resent_object_is_recorded_with_its_new_size(repo: SynthRepo, tmp_path: Path, reads: list[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst)
    settle()
    victim = layout.data_key(repo.packs[0])
    (dst.root / victim).unlink()  # the directory changes: its names are read again
    short = dst.root / victim.replace(repo.packs[0], ".dro-tmp-0-" + repo.packs[0])
    short.write_bytes(b"short")
    os.replace(short, dst.root / victim)  # replaced by a short copy (another writer, damage)
    monkeypatch.setenv("DRO_LISTING_CACHE_MAX_AGE", "0")  # a full listing sees it
    rep = replicate(repo.backend, dst)
    assert rep.resent_corrupt_target == [victim]
    monkeypatch.delenv("DRO_LISTING_CACHE_MAX_AGE")
    settle()
    again = replicate(repo.backend, dst)  # the cache holds the re-sent size, not the short one
    assert again.ok and again.to_copy == 0 and again.resent_corrupt_target == []


def test_entry_removed_with_the_mtime_put_back_is_still_seen(repo: SynthRepo, tmp_path: Path,
                                                             reads: list[str]) -> None:
    """`cp -a`/`touch -d` can set a directory's mtime back; its ctime moves regardless."""
    dst = LocalBackend(tmp_path / "dst")
    warm(repo, dst)
    victim = layout.data_key(repo.packs[0])
    parent = (dst.root / victim).parent
    st = os.stat(parent)
    (dst.root / victim).unlink()
    os.utime(parent, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(parent).st_mtime_ns == st.st_mtime_ns
    rep = replicate(repo.backend, dst)
    assert rep.ok and rep.counters.objects_copied == 1 and (dst.root / victim).exists()


def test_a_failed_run_leaves_no_target_cache_and_the_next_run_lists_in_full(repo: SynthRepo, tmp_path: Path,
                                                                           reads: list[str]) -> None:
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst)
    settle()
    assert cache_file(dst.root).exists()
    before = set(repo.contents)
    repo.add_snapshot(n_packs=3)
    new_packs = sorted(k for k in set(repo.contents) - before if k.startswith("data/"))
    stop = threading.Event()

    class StopAfterData:
        def phase(self, name: str, objects: int, nbytes: int) -> None:
            if name != "data":
                stop.set()

        def advance(self, objects: int, nbytes: int) -> None:
            return None

    rep = replicate(repo.backend, dst, Options(stop=stop, progress=StopAfterData()))
    assert rep.stopped and not rep.ok
    assert all((dst.root / k).exists() for k in new_packs)
    assert not cache_file(dst.root).exists()  # removed before the first write, not rewritten
    # A power cut could have left a written but unsynced object short: the next run must see it.
    (dst.root / new_packs[0]).write_bytes(b"")
    again = replicate(repo.backend, dst)
    assert again.ok and again.resent_corrupt_target == [new_packs[0]]
    assert (dst.root / new_packs[0]).read_bytes() == repo.contents[new_packs[0]]


def test_damage_in_place_needs_a_full_listing_or_deep(repo: SynthRepo, tmp_path: Path,
                                                      reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The trade-off, stated: an object truncated in place (its directory unchanged) is not
    seen from a cached listing; a full listing (cache off or too old) and --deep see it."""
    dst = LocalBackend(tmp_path / "dst")
    warm(repo, dst)
    victim = layout.data_key(repo.packs[1])
    parent_stamp = os.stat((dst.root / victim).parent).st_mtime_ns
    with open(dst.root / victim, "r+b") as f:
        f.truncate(10)
    assert os.stat((dst.root / victim).parent).st_mtime_ns == parent_stamp
    assert replicate(repo.backend, dst).resent_corrupt_target == []  # trusted from the cache
    deep = replicate(repo.backend, dst, Options(deep=True))
    assert deep.resent_corrupt_target == [victim]
    with open(dst.root / victim, "r+b") as f:
        f.truncate(10)
    monkeypatch.setenv("DRO_LISTING_CACHE_MAX_AGE", "0")  # the last full listing is too old
    assert replicate(repo.backend, dst).resent_corrupt_target == [victim]
    with open(dst.root / victim, "r+b") as f:
        f.truncate(10)
    monkeypatch.delenv("DRO_LISTING_CACHE_MAX_AGE")
    monkeypatch.setenv("DRO_LISTING_CACHE", "off")
    assert replicate(repo.backend, dst).resent_corrupt_target == [victim]
    assert dst.get(victim) == repo.contents[victim]


def test_cache_off_writes_no_cache_file(repo: SynthRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRO_LISTING_CACHE", "0")
    dst = LocalBackend(tmp_path / "dst")
    assert replicate(repo.backend, dst).ok
    assert not cache_file(dst.root).exists() and not cache_file(repo.backend.root).exists()
    monkeypatch.setenv("DRO_LISTING_CACHE", "1")
    monkeypatch.setenv("DRO_NO_CACHE", "1")  # dro's switch for all of its caches
    assert replicate(repo.backend, dst).ok
    assert not cache_file(dst.root).exists()


def read_cache(path: Path) -> tuple[dict, list, bytes]:
    """(meta, directories, columns) of a cache file (listcache.DirCache's format)."""
    _, meta, dirs, columns = path.read_bytes().split(b"\n", 3)
    return json.loads(meta), json.loads(dirs), columns


def write_cache(path: Path, meta: dict, dirs: list, columns: bytes, *, reseal: bool = True) -> None:
    rest = json.dumps(meta).encode() + b"\n" + json.dumps(dirs).encode() + b"\n" + columns
    digest = blake3.blake3(rest).hexdigest() if reseal else path.read_bytes().split(b"\n", 1)[0].decode()
    path.write_bytes(digest.encode() + b"\n" + rest)  # resealed: as dro would have written it


@pytest.mark.parametrize("damage", ["none", "garbage", "truncated", "other-root", "other-version",
                                    "bad-columns", "flipped-byte", "not-a-dict", "too-old", "from-the-future",
                                    "count-disagrees", "full-changed"])
def test_unreadable_or_foreign_cache_means_a_full_listing(repo: SynthRepo, tmp_path: Path, reads: list[str],
                                                          damage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dst = LocalBackend(tmp_path / "dst")
    warm(repo, dst)
    path = cache_file(dst.root)
    meta, dirs, columns = read_cache(path)
    # A lying cache: an object the target lacks, listed as present under the directory's
    # current stamp. Only the cache's own checks can stop it from being believed.
    victim = layout.data_key(repo.packs[2])
    rel = victim.rsplit("/", 1)[0]
    (dst.root / victim).unlink()
    st = os.stat(dst.root / rel)
    entry = next(e for e in dirs if e[0] == rel)
    entry[1:5] = [st.st_mtime_ns, st.st_ctime_ns, st.st_ino, time.time_ns() + 10**12]
    write_cache(path, meta, dirs, columns)
    if damage == "garbage":
        path.write_bytes(b"\x00not json")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "other-root":
        write_cache(path, {**meta, "root": "/somewhere/else"}, dirs, columns)
    elif damage == "other-version":
        write_cache(path, {**meta, "v": 999}, dirs, columns)
    elif damage == "bad-columns":  # the directory lines changed, not resealed
        entry[9] += 1
        write_cache(path, meta, dirs, columns, reseal=False)
    elif damage == "flipped-byte":
        write_cache(path, meta, dirs, columns[:5] + bytes([columns[5] ^ 1]) + columns[6:], reseal=False)
    elif damage == "full-changed":  # the meta line is covered by the digest too
        write_cache(path, {**meta, "full": time.time_ns()}, dirs, columns, reseal=False)
    elif damage == "not-a-dict":
        path.write_bytes(b"x\n[1, 2, 3]\n[]\n")
    elif damage == "too-old":
        monkeypatch.setenv("DRO_LISTING_CACHE_MAX_AGE", "0.001")
    elif damage == "from-the-future":  # would never expire
        write_cache(path, {**meta, "full": time.time_ns() + 10**15}, dirs, columns)
    elif damage == "count-disagrees":  # resealed, but the columns do not hold `count` files
        entry[5] += 1
        write_cache(path, meta, dirs, columns)
    reads.clear()
    rep = replicate(repo.backend, dst)
    if damage == "none":  # the control: a well-formed cache is believed (what the checks are for)
        assert rep.counters.objects_copied == 0 and not (dst.root / victim).exists()
        return
    assert rep.ok and rep.counters.objects_copied == 1 and (dst.root / victim).exists()
    assert rel in reads  # the target directory was read, not trusted


def test_with_the_password_a_snapshot_needing_in_sync_objects_is_published(repo: SynthRepo,
                                                                           tmp_path: Path,
                                                                           reads: list[str]) -> None:
    dst = LocalBackend(tmp_path / "dst")
    warm(repo, dst)
    sid = repo.add_snapshot(n_packs=1)  # cumulative: needs every older pack (all in sync)
    rep = replicate(repo.backend, dst, Options(graph=FakeGraph(repo.backend)))
    assert rep.ok and rep.snapshots_copied == [sid] and rep.snapshots_held_back == {}


def test_dry_run_and_deep_write_or_trust_nothing(repo: SynthRepo, tmp_path: Path, reads: list[str]) -> None:
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst, Options(dry_run=True))
    assert not cache_file(dst.root).exists() and not cache_file(repo.backend.root).exists()
    warm(repo, dst)
    reads.clear()
    replicate(repo.backend, dst, Options(deep=True))
    assert len([r for r in reads if r.startswith("data/")]) >= 2  # both ends read in full


def test_an_encoding_is_reused_only_while_nothing_was_recorded_since(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "index").mkdir(parents=True)
    (root / "index" / "a").write_bytes(b"1")
    cache = DirCache(root)
    listcache.blocks_under(str(root), "index/", cache)
    first = cache.encode()
    assert cache.encode() is first  # nothing new: the same bytes, not encoded twice
    settle()
    (root / "index" / "b").write_bytes(b"22")
    listcache.blocks_under(str(root), "index/", cache)  # records the directory read again
    cache.save()
    again = DirCache(root).old("index")
    assert again is not None and dict(zip(again.names, again.sizes, strict=True)) == {"a": 1, "b": 2}


def test_target_directories_read_during_the_barrier_are_seen_again_when_they_change_later(
        repo: SynthRepo, tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Replicator._meanwhile reads the target's data/ while the data phase's barrier runs;
    a file removed after that read (here: by someone else) is still missing for the next run."""
    dst = LocalBackend(tmp_path / "dst")
    warm(repo, dst)
    before = set(repo.contents)
    repo.add_snapshot(n_packs=2)
    victim = sorted(k for k in set(repo.contents) - before if k.startswith("data/"))[0]
    real = Replicator._meanwhile
    seen: list[bool] = []

    def meanwhile_then_remove(self: Replicator) -> None:
        reads.clear()
        real(self)
        seen.append(victim.rsplit("/", 1)[0] in reads)  # its directory was read now
        settle()
        (dst.root / victim).unlink()
    monkeypatch.setattr(Replicator, "_meanwhile", meanwhile_then_remove)
    assert replicate(repo.backend, dst).ok and seen == [True]
    monkeypatch.setattr(Replicator, "_meanwhile", real)
    settle()
    again = replicate(repo.backend, dst)
    assert again.counters.objects_copied == 1 and (dst.root / victim).is_file()


def test_forget_also_makes_the_next_encoding_new(repo: SynthRepo, tmp_path: Path) -> None:
    dst = LocalBackend(tmp_path / "dst")
    replicate(repo.backend, dst)
    cache = DirCache(dst.root)
    listcache.blocks_under(str(dst.root), "index/", cache)
    before = cache.encode()
    key = next(k for k in repo.contents if k.startswith("index/"))
    cache.forget([key])  # re-sent: its size must be read again, so it leaves the cached block
    after = cache.encode()
    assert after is not before and key.rsplit("/", 1)[1].encode() in before
    assert key.rsplit("/", 1)[1].encode() not in after


def test_what_this_process_wrote_needs_no_stat_where_no_listing_is_known(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for rel, name, data in (("data/ab", "ours", b"123"), ("data/ab", "theirs", b"12345"), ("keys", "k", b"1")):
        (tmp_path / rel).mkdir(parents=True, exist_ok=True)
        (tmp_path / rel / name).write_bytes(data)
    stated: list[str] = []
    real = listcache._stat_names

    def counting(fd: int, names: object) -> tuple[list[tuple[str, int]], list[str]]:
        names = list(names)  # type: ignore[call-overload]
        stated.extend(names)
        return real(fd, names)

    monkeypatch.setattr(listcache, "_stat_names", counting)
    written = [("data/ab/ours", 3), ("data/ab/gone", 7), ("keys/k", 1)]
    cache = DirCache(tmp_path)
    cache.expect(written)
    blocks = listcache.blocks_under(str(tmp_path), "data/", cache)
    got = {b.rel: list(zip(b.names, b.sizes, strict=True)) for b in blocks}
    # Another writer's file is stat'ed; ours is not; a name written but not there is not listed.
    assert got["data/ab"] == [("ours", 3), ("theirs", 5)]
    assert "ours" not in stated and "theirs" in stated
    assert next(b for b in blocks if b.rel == "data/ab").fresh  # new names: synced before a cache names them
    # Outside the content-addressed directories every file is stat'ed, expected or not.
    stated.clear()
    listcache.blocks_under(str(tmp_path), "keys/", cache)
    assert stated == ["k"]
    # A cache that must read everything (--deep) trusts no expectation either.
    deep = DirCache(tmp_path, use_entries=False)
    deep.expect(written)
    stated.clear()
    listcache.blocks_under(str(tmp_path), "data/", deep)
    assert sorted(stated) == ["ab", "ours", "theirs"]  # data/'s subdirectory, then both files
    # Exactly what was written (the common case): no stat at all.
    (tmp_path / "data" / "cd").mkdir()
    (tmp_path / "data" / "cd" / "x").write_bytes(b"1234")
    cache.expect([("data/cd/x", 4)])
    stated.clear()
    block = read_dir(str(tmp_path / "data" / "cd"), "data/cd", cache.old("data/cd"))
    assert block is not None and (block.names, block.sizes, block.fresh) == (["x"], [4], True)
    assert stated == []


def test_a_first_replication_saves_the_sizes_a_full_stat_would_read(tmp_path: Path) -> None:
    """More than 256 objects into an empty directory: confirmed by listing, their sizes taken
    from the writer (DirCache.expect); the saved cache must equal what stat-ing finds."""
    src = synth_repo(LocalBackend(tmp_path / "src"), snapshots=4, packs=80, size=512, rng=random.Random(5))
    dst = LocalBackend(tmp_path / "dst")
    rep = replicate(src.backend, dst, Options())
    assert rep.ok and rep.to_copy > 256
    saved = DirCache(tmp_path / "dst")
    assert saved.loaded
    fresh = DirCache(tmp_path / "dst", use_entries=False)
    for kind in ("data/", "index/", "snapshots/"):
        cached = {b.rel: (b.names, b.sizes) for b in listcache.blocks_under(str(tmp_path / "dst"), kind, saved)}
        stated = {b.rel: (b.names, b.sizes) for b in listcache.blocks_under(str(tmp_path / "dst"), kind, fresh)}
        assert cached == stated and cached, kind
