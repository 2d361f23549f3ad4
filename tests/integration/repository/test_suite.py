"""The repository suite, run against every backend (local, S3, GCS, Azure, SFTP)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from dr_orchestrator.errors import BadInput, IntegrityError, WrongPassword
from dr_orchestrator.repository import Policy, Repository, StreamSource
from dr_orchestrator.repository import archiver as archiver_mod
from tests.integration.repository.helpers import assert_same_tree, make_sample_tree

pytestmark = pytest.mark.services


def _reopen(repo: Repository) -> Repository:
    return Repository.open(repo.backend, "correct horse")


def test_round_trip_metadata_sparse_and_verify(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_sample_tree(src)
    snap = repo.backup([str(src)], tags=["t1"])
    assert snap.summary["files"] == 7  # regular files incl. the hard link
    r2 = _reopen(repo)
    assert [s.id for s in r2.snapshots()] == [snap.id]
    out = tmp_path / "out"
    r2.restore(r2.find_snapshot("latest"), str(out))
    restored = out / str(src).lstrip("/")
    assert_same_tree(src, restored)
    # Holes stay holes: 12 MiB apparent, ~300 KB allocated.
    assert (restored / "vm.img").stat().st_blocks * 512 < 2 << 20
    assert os.stat(restored / "hard").st_ino == os.stat(restored / "docs" / "a.txt").st_ino
    rep = r2.verify(1.0)
    assert rep.ok, rep.errors
    assert rep.packs_read == rep.packs > 0


def test_incremental_reads_only_changed_files(repo: Repository, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_sample_tree(src, big=16 << 20)
    repo.backup([str(src)])
    with open(src / "big.bin", "r+b") as f:  # bytes inserted near the start of a large file
        data = f.read()
        f.seek(0)
        f.write(data[:1000] + b"INSERTED" + data[1000:])
    (src / "new.txt").write_text("new file")
    opened: list[str] = []
    real = archiver_mod.Archiver._read_file

    def spy(self: archiver_mod.Archiver, path: str, *args: int) -> object:
        opened.append(os.path.basename(path))
        return real(self, path, *args)

    monkeypatch.setattr(archiver_mod.Archiver, "_read_file", spy)
    snap = _reopen(repo).backup([str(src)])
    assert sorted(opened) == ["big.bin", "new.txt"]
    s = snap.summary
    assert (s["files_new"], s["files_changed"]) == (1, 1)
    # CDC: only the chunk(s) around the insertion are new (chunks are at most 4 MiB), not the
    # whole 16 MiB file.
    assert s["bytes_new"] < (8 << 20) + (64 << 10)
    out = tmp_path / "out"
    repo.restore(snap, str(out))
    assert_same_tree(src, out / str(src).lstrip("/"))


def _flip_first_data_pack(repo: Repository) -> str:
    pid = next(p for p, (t, _s) in repo.index.packs.items() if t == "D")
    key = f"data/{pid[:2]}/{pid}"
    data = bytearray(repo.backend.get(key))
    data[len(data) // 3] ^= 0x40
    repo.backend.put(key, bytes(data))
    return pid


def test_flipped_byte_detected_by_verify_and_restore(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "only.bin").write_bytes(os.urandom(3 << 20))
    snap = repo.backup([str(src)])
    _flip_first_data_pack(repo)
    r2 = _reopen(repo)
    rep = r2.verify(1.0)
    assert not rep.ok
    assert any("only.bin" in f for f in rep.damaged_files)
    with pytest.raises(IntegrityError) as err:
        rep.raise_for_errors()
    assert err.value.exit_code == 3
    with pytest.raises(IntegrityError, match="only.bin"):
        r2.restore(snap, str(tmp_path / "out"))


def test_forget_prune_keeps_what_snapshots_need(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    snaps = []
    for i in range(3):
        (src / f"f{i}.bin").write_bytes(os.urandom(1 << 20))
        if i:
            (src / f"f{i - 1}.bin").unlink()
        snaps.append(repo.backup([str(src)]))
    res = repo.forget(Policy(keep_last=1))
    assert [s.id for s in res.keep] == [snaps[-1].id]
    rep = repo.prune()
    assert rep.packs_deleted + rep.packs_repacked >= 1
    r2 = _reopen(repo)
    assert r2.verify(1.0).ok
    out = tmp_path / "out"
    r2.restore(r2.find_snapshot("latest"), str(out))
    assert_same_tree(src, out / str(src).lstrip("/"))


def test_streams_and_open_file(repo: Repository, tmp_path: Path) -> None:
    payload = os.urandom(2 << 20) + b"tail" * 100_000

    src = StreamSource("postgres/app.dump", lambda: contextlib.nullcontext(io.BytesIO(payload)),
                       {"database": "app"})
    snap = repo.backup([], streams=[src])
    assert snap.streams == {"postgres/app.dump": {"database": "app"}}
    with _reopen(repo).open_file(snap, "postgres/app.dump") as f:
        assert f.read() == payload

    @contextlib.contextmanager
    def failing() -> Iterator[BinaryIO]:
        proc = subprocess.Popen(["sh", "-c", "head -c 3000000 /dev/urandom; exit 7"], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        yield proc.stdout  # type: ignore[misc]
        if proc.wait() != 0:
            raise BadInput(f"producer exited {proc.returncode}")

    before = len(repo.snapshots())
    threads = threading.active_count()
    with pytest.raises(BadInput, match="exited 7"):
        repo.backup([], streams=[StreamSource("bad.dump", failing)])
    assert len(_reopen(repo).snapshots()) == before
    assert threading.active_count() <= threads  # uploader/pool/heartbeat threads all ended


def test_wrong_password_and_key_slots(repo: Repository) -> None:
    with pytest.raises(WrongPassword):
        Repository.open(repo.backend, "wrong")
    from tests.integration.repository.helpers import FAST_KDF

    kid = repo.add_key("second", kdf=FAST_KDF)
    r2 = Repository.open(repo.backend, "second")
    assert r2.config.id == repo.config.id
    assert len(repo.list_keys()) == 2
    repo.remove_key(kid)
    with pytest.raises(WrongPassword):
        Repository.open(repo.backend, "second")


def test_immutable_backups_survive_forget_and_prune(s3_location: Callable[..., tuple[str, dict[str, str]]],
                                                    tmp_path: Path) -> None:
    """S3 with object lock: retained snapshots and their data are never removed."""
    from datetime import UTC, datetime, timedelta

    from dr_orchestrator.storage.registry import open_backend
    from tests.integration.repository.helpers import FAST_KDF

    url, options = s3_location("locked")
    repo = Repository.init(open_backend(url, options), "correct horse", kdf=FAST_KDF)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(1 << 20))
    locked = repo.backup([str(src)], retain_until=datetime.now(UTC) + timedelta(days=1))
    (src / "a.bin").write_bytes(os.urandom(1 << 20))
    repo.backup([str(src)])
    (src / "a.bin").write_bytes(os.urandom(1 << 20))
    last = repo.backup([str(src)])
    res = repo.forget(Policy(keep_last=1))
    assert {s.id for s in res.keep} == {locked.id, last.id}
    repo.prune()
    r2 = _reopen(repo)
    assert r2.verify(1.0).ok
    out = tmp_path / "out"
    r2.restore(locked, str(out))
    assert (out / str(src).lstrip("/") / "a.bin").stat().st_size == 1 << 20


def test_remote_cache_is_used_and_self_checking(repo: Repository, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("x")
    snap = repo.backup([str(src)])
    r2 = _reopen(repo)
    assert [s.id for s in r2.snapshots()] == [snap.id]
    assert [p for p, _n in r2.walk(snap.tree)][-1].endswith("/d/f")
    cached = sorted(p.relative_to(tmp_path / "cache") for p in (tmp_path / "cache").rglob("*") if p.is_file())
    if repo.backend.url.startswith("file://"):
        assert cached == []  # local repositories are not cached
        return
    kinds = {p.parts[2] for p in cached}
    assert {"index", "snapshots", "data"} <= kinds
    # A corrupted cache entry is detected by its name and fetched again.
    for p in (tmp_path / "cache").rglob("*"):
        if p.is_file() and p.parts[-2] == "snapshots":
            p.write_bytes(b"garbage")
    assert [s.id for s in _reopen(repo).snapshots()] == [snap.id]
