"""LocalReplicaWriter.copy_file: big objects go to the disk with O_DIRECT (aligned head,
buffered tail), byte-identical to the source, refused objects never appear, and a file
system that refuses O_DIRECT gets the page-cache copy instead."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import blake3
import pytest

from dr_orchestrator.replication import localfast
from dr_orchestrator.replication.localfast import DIRECT_BUF, DIRECT_MIN, LocalReplicaWriter

pytestmark = pytest.mark.skipif(not localfast._O_DIRECT, reason="no O_DIRECT on this platform")


class _Spy:
    """Records the flags of every file opened for writing and the O_DIRECT drops (fcntl)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened: list[int] = []
        self.dropped = 0
        real_open, real_fcntl = os.open, localfast.fcntl.fcntl

        def spy_open(path: str, flags: int, *args: int, **kw: int) -> int:
            if flags & os.O_WRONLY:
                self.opened.append(flags)
            return real_open(path, flags, *args, **kw)

        def spy_fcntl(fd: int, cmd: int, *args: int) -> int:
            if cmd == localfast.fcntl.F_SETFL:
                self.dropped += 1
            return real_fcntl(fd, cmd, *args)
        monkeypatch.setattr(os, "open", spy_open)
        monkeypatch.setattr(localfast.fcntl, "fcntl", spy_fcntl)


def _copy(writer: LocalReplicaWriter, src: Path, key: str, *, refuse: bool = False) -> int:
    hasher = blake3.blake3()
    seen: list[int] = []

    def on_block(block: memoryview) -> None:
        seen.append(len(block))
        hasher.update(block)

    def before_rename() -> None:
        if refuse or hasher.hexdigest() != blake3.blake3(src.read_bytes()).hexdigest():
            raise ValueError("refused")
    size = writer.copy_file(key, str(src), on_block, before_rename)
    assert sum(seen) == size
    return size


@pytest.mark.parametrize("size", [DIRECT_MIN, DIRECT_MIN + 1, DIRECT_BUF, 2 * DIRECT_BUF + 4096 + 17, 3 * DIRECT_BUF])
def test_big_objects_are_written_with_o_direct_and_are_identical(tmp_path: Path, size: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(size)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    spy = _Spy(monkeypatch)
    writer = LocalReplicaWriter(tmp_path / "dst")
    assert _copy(writer, src, "data/ab/obj") == size
    assert (tmp_path / "dst" / "data" / "ab" / "obj").read_bytes() == data
    assert spy.opened and all(f & localfast._O_DIRECT for f in spy.opened)
    assert spy.dropped == (1 if size % 4096 else 0)  # only an unaligned tail leaves O_DIRECT
    assert not list((tmp_path / "dst").rglob(".dro-tmp*"))


def test_small_objects_keep_the_page_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(DIRECT_MIN - 1))
    spy = _Spy(monkeypatch)
    _copy(LocalReplicaWriter(tmp_path / "dst"), src, "data/ab/obj")
    assert spy.opened and not any(f & localfast._O_DIRECT for f in spy.opened)


def test_a_refused_big_object_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(DIRECT_BUF + 100))
    with pytest.raises(ValueError, match="refused"):
        _copy(LocalReplicaWriter(tmp_path / "dst"), src, "data/ab/obj", refuse=True)
    assert not [p for p in (tmp_path / "dst").rglob("*") if p.is_file()]


def test_a_file_system_refusing_o_direct_at_open_gets_the_buffered_copy(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def no_direct(path: str, flags: int, *args: int, **kw: int) -> int:
        if flags & localfast._O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument", path)
        return real_open(path, flags, *args, **kw)
    monkeypatch.setattr(os, "open", no_direct)
    data = os.urandom(2 * DIRECT_BUF + 333)
    (tmp_path / "a").write_bytes(data)
    writer = LocalReplicaWriter(tmp_path / "dst")
    _copy(writer, tmp_path / "a", "data/aa/one")
    assert not writer.direct  # asked once, not again for every object
    _copy(writer, tmp_path / "a", "data/aa/two")
    assert (tmp_path / "dst/data/aa/one").read_bytes() == (tmp_path / "dst/data/aa/two").read_bytes() == data


def test_an_o_direct_write_refused_midway_goes_on_through_the_page_cache(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    calls = [0]

    def flaky(fd: int, data: memoryview) -> int:
        calls[0] += 1
        if calls[0] == 2 and localfast.fcntl.fcntl(fd, localfast.fcntl.F_GETFL) & localfast._O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)
    monkeypatch.setattr(os, "write", flaky)
    data = os.urandom(3 * DIRECT_BUF + 5000)
    (tmp_path / "a").write_bytes(data)
    _copy(LocalReplicaWriter(tmp_path / "dst"), tmp_path / "a", "data/aa/one")
    assert (tmp_path / "dst/data/aa/one").read_bytes() == data
    assert calls[0] > 2


def test_sweep_removes_only_temp_files_of_writers_that_are_gone(tmp_path: Path) -> None:
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    tok, other = localfast._token(), "0123abcd" if localfast._token() != "0123abcd" else "fedc3210"
    d = tmp_path / "data" / "ab"
    d.mkdir(parents=True)
    names = {
        f".dro-tmp-{tok}-{gone.pid}-140-abc": False,  # a killed writer's temp file
        f".dro-tmp-staged-{tok}-{gone.pid}.1-def": False,  # a killed run's staged object
        f".dro-tmp-{tok}-{os.getpid()}-140-ghi": True,  # a live writer (this process)
        f".dro-tmp-staged-{tok}-{os.getpid()}.2-jkl": True,
        f".dro-tmp-{other}-{gone.pid}-140-mno": True,  # another machine's or container's pid
        f".dro-tmp-{tok}-99999999999999999999-140-pqr": True,  # not a pid of ours at all
        ".dro-tmp-k2j3h4_x": True,  # LocalBackend's mkstemp name, fresh: maybe a live put
        ".dro-tmp-a8b7c6_y": False,  # … and one untouched for more than a day: a killed put's
        "abc": True,  # an object
    }
    for name in names:
        (d / name).write_bytes(b"x")
    day_old = time.time() - 86400 - 60
    os.utime(d / ".dro-tmp-a8b7c6_y", (day_old, day_old))
    os.utime(d / "abc", (day_old, day_old))  # an object is never judged by its age
    elsewhere = tmp_path / "not-a-repo-dir"  # only the repository's directories are walked
    elsewhere.mkdir()
    (elsewhere / f".dro-tmp-{tok}-{gone.pid}-140-abc").write_bytes(b"x")
    assert localfast.sweep_stale_temps(tmp_path) == (3, [])
    assert {p.name for p in d.iterdir()} == {n for n, keep in names.items() if keep}
    assert len(list(elsewhere.iterdir())) == 1
    assert localfast.sweep_stale_temps(tmp_path / "missing") == (0, [])


def test_sweep_reports_what_it_cannot_read_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for sub in ("data/aa", "data/bb"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / f".dro-tmp-{localfast._token()}-{gone.pid}-1-x").write_bytes(b"x")
    real = os.scandir

    def refuse(path: str) -> object:
        if str(path).endswith("aa"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)
    monkeypatch.setattr(os, "scandir", refuse)
    removed, problems = localfast.sweep_stale_temps(tmp_path)
    assert removed == 1 and len(problems) == 1 and "Permission denied" in problems[0]
