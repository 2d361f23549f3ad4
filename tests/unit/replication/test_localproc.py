"""Directory → directory copies in helper processes (replication/localproc.py): the same
results and guarantees as the threads' copies."""

from __future__ import annotations

import errno
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from dr_orchestrator.replication import layout, localproc
from dr_orchestrator.replication.localproc import HelperPool
from dr_orchestrator.replication.options import Options
from dr_orchestrator.replication.replicator import Replicator, replicate
from dr_orchestrator.storage.local import LocalBackend
from tests.unit.replication.synth import SynthRepo, flip_byte, incomplete_snapshots, stored_objects, synth_repo


@pytest.fixture(autouse=True)
def _always_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localproc, "MIN_OBJECTS", 0)
    monkeypatch.setattr(localproc, "MIN_BYTES", 0)
    monkeypatch.setattr(localproc, "helper_count", lambda workers: 2)


@pytest.fixture
def repo(tmp_path: Path) -> SynthRepo:
    rng = random.Random(5)
    r = synth_repo(LocalBackend(tmp_path / "src"), packs=5, rng=rng)
    r.add_snapshot(n_packs=1, size=3 << 20, rng=rng)  # several read blocks
    return r


def test_full_copy_by_helpers_is_identical(repo: SynthRepo, tmp_path: Path) -> None:
    dst = LocalBackend(tmp_path / "dst")
    rp = Replicator(repo.backend, dst)
    rep = rp.run()
    assert rp.transfer._helpers is None  # stopped at the end of the run
    assert rep.ok and stored_objects(dst) == repo.contents
    assert rep.counters.objects_copied == rep.counters.objects_streamed == len(repo.contents)
    assert rep.counters.objects_verified == len([k for k in repo.contents if layout.expected_hash(k)])
    assert rep.counters.bytes_streamed == sum(len(v) for v in repo.contents.values())
    assert incomplete_snapshots(dst) == {}
    assert not [p for p in dst.root.rglob(".dro-tmp*")]
    assert replicate(repo.backend, dst).to_copy == 0


@pytest.mark.parametrize("which", [0, -1])  # a small pack, the 3 MiB one
def test_corrupt_source_is_not_propagated_by_a_helper(repo: SynthRepo, tmp_path: Path, which: int) -> None:
    bad = layout.data_key(repo.packs[which])
    flip_byte(str(repo.backend.root / bad), offset=2 << 20 if which == -1 else 10)
    dst = LocalBackend(tmp_path / "dst")
    rep = replicate(repo.backend, dst)
    assert rep.source_corrupt == [bad] and not rep.ok
    assert not (dst.root / bad).exists()
    assert not [p for p in dst.root.rglob(".dro-tmp*")]
    assert incomplete_snapshots(dst) == {}


def test_missing_and_bad_keys_are_reported_per_key(repo: SynthRepo, tmp_path: Path) -> None:
    pool = HelperPool(repo.backend.root, tmp_path / "dst", 2, "t")
    try:
        good = layout.data_key(repo.packs[0])
        got = {k: (s, v) for k, s, v in pool.copy([good, "data/00/" + "0" * 64, "../escape"], threading.Event())}
    finally:
        pool.close()
    assert got[good] == ("ok", str(len(repo.contents[good])))
    assert got["data/00/" + "0" * 64][0] == "missing"
    assert got["../escape"][0] == "error"
    assert not (tmp_path / "escape").exists()


def test_a_helper_that_dies_fails_what_it_held(repo: SynthRepo, tmp_path: Path) -> None:
    pool = HelperPool(repo.backend.root, tmp_path / "dst", 1, "t")
    keys = sorted(k for k in repo.contents if k.startswith("data/")) * 20  # many hand-offs
    try:
        results = pool.copy(keys, threading.Event())
        first = next(results)
        pool._helpers[0].proc.kill()
        rest = list(results)
    finally:
        pool.close()
    statuses = [first[1]] + [s for _, s, _ in rest]
    # Every key is answered: copied before the kill, or failed — none is skipped silently.
    assert len(statuses) == len(keys) and statuses.count("error") >= len(keys) // 2


def test_stop_sends_no_more_keys(repo: SynthRepo, tmp_path: Path) -> None:
    stop = threading.Event()
    dst = LocalBackend(tmp_path / "dst")

    class StopEarly:
        def phase(self, name: str, objects: int, nbytes: int) -> None:
            return None

        def advance(self, objects: int, nbytes: int) -> None:
            stop.set()

    rep = replicate(repo.backend, dst, Options(stop=stop, progress=StopEarly()))
    assert rep.stopped and not rep.ok
    assert list(dst.list("snapshots/")) == []
    assert rep.counters.objects_copied < len(repo.contents)
    for info in dst.list(""):  # whatever was written is whole
        assert dst.get(info.key) == repo.contents[info.key]


def test_a_disk_error_on_a_big_object_fails_that_object_and_the_run_goes_on(
        repo: SynthRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dr_orchestrator.replication import localfast

    big = layout.data_key(repo.packs[-1])  # the 3 MiB pack: copied by a thread here, not a helper
    real = localfast._copy_direct

    def disk_full(src: int, fd: int, on_block: Callable[[memoryview], None]) -> tuple[int, bool]:
        if os.readlink(f"/proc/self/fd/{src}").endswith(big.rsplit("/", 1)[1]):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, fd, on_block)
    monkeypatch.setattr(localfast, "_copy_direct", disk_full)
    dst = LocalBackend(tmp_path / "dst")
    rp = Replicator(repo.backend, dst)
    rep = rp.run()
    assert "No space left on device" in rep.failed[big] and not rep.ok
    assert not (dst.root / big).exists()
    # The other packs, keys and config arrive; without the password every new index and
    # snapshot waits until the pack can be sent.
    assert rep.counters.objects_copied == len([k for k in repo.contents if k.split("/")[0] in
                                              ("data", "keys", "config")]) - 1
    assert rep.objects_held_back == sorted(k for k in repo.contents if k.startswith("index/"))
    assert set(rep.snapshots_held_back) == set(repo.snapshots)  # no password: every new one waits
    assert incomplete_snapshots(dst) == {} and not list(dst.root.rglob(".dro-tmp*"))
    assert rp.transfer._helpers is None
    monkeypatch.setattr(localfast, "_copy_direct", real)  # space again: the next run sends the rest
    assert replicate(repo.backend, dst).ok and stored_objects(dst) == repo.contents


def test_a_helper_refuses_an_unknown_command(tmp_path: Path) -> None:
    import io

    src = tmp_path / "src"
    (src / "data" / "ab").mkdir(parents=True)
    (src / "data" / "ab" / "x").write_bytes(b"abc")
    out = io.BytesIO()
    localproc._serve(str(src), str(tmp_path / "dst"), "t", io.BytesIO(b"publish\tdata/ab/x\n\n"), out)
    assert out.getvalue().decode().startswith("data/ab/x\terror\tunknown helper command")
    assert not (tmp_path / "dst" / "data" / "ab" / "x").exists()
