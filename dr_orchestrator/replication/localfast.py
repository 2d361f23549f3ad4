"""Writing replicas into a local directory: one durability barrier per phase.

LocalBackend.put fsyncs every file and its directory (~10 ms here): right for a
repository being written by a backup, but 20,000 objects would take minutes. A replica
is different — every object can be re-sent from the source — so here each object is
written to a temp file and renamed into place (atomic: a killed process never leaves a
partial object under its key), and the whole phase is made durable with one syncfs()
before the next phase starts. So data and index are on disk before any snapshot that
needs them is written, which is the consistency that matters. What a power cut can do:
leave objects of the last unsynced phase truncated; the next run sees the size differ
from the source's and re-sends them (`--deep` also catches same-size damage). The
listing cache (listcache.py) cannot hide that: the target's cache file is removed before
the first write and rewritten only after a successful run.

Objects of DIRECT_MIN bytes or more bypass the page cache (O_DIRECT, see _copy_direct).
An object may also be staged (copy_file/put with stage=True): written and checked under
a staged name, renamed by publish() in its own phase (replicator.py). Temp and staged
files of a writer that was killed are removed by sweep_stale_temps() on a later run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import itertools
import mmap
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from dr_orchestrator.replication.listcache import TMP_PREFIX as _TMP_PREFIX  # LocalBackend's listing skips it
from dr_orchestrator.replication.listcache import Block, DirCache, blocks_under
from dr_orchestrator.storage.base import EMPTY_MAPPING, STALE_TEMP_AGE, Backend, ObjectInfo, validate_key


def local_root(backend: Backend) -> Path | None:
    from dr_orchestrator.storage.local import LocalBackend
    from dr_orchestrator.storage.retry import unwrap

    inner = unwrap(backend)
    # Exact type: a subclass may have its own idea of put().
    return inner.root if type(inner) is LocalBackend else None


def list_local(root: Path, prefix: str, workers: int = 8, cache: DirCache | None = None) -> Iterator[ObjectInfo]:
    """Like LocalBackend.list(prefix) for a directory prefix ("data/"), minus the sorting
    and the modification times (replication never looks at them: `modified` is None).
    `cache`: answer unchanged directories from the listing cache (listcache.py)."""
    for block in blocks_under(str(root), prefix, cache, workers):
        yield from infos(block)


def local_stats(root: Path, keys: Iterable[str]) -> list[ObjectInfo]:
    """Size of each of `keys` under `root` that is a regular file (missing ones left out)."""
    base = f"{root}/"
    found: list[tuple[str, int]] = []
    for key in keys:
        try:
            st = os.stat(base + validate_key(key), follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((key, st.st_size))
    return infos_of("", found) if found else []


def infos(block: Block, names: Iterable[str] | None = None) -> list[ObjectInfo]:
    """ObjectInfo of a block's files (or of `names` among them, sizes from the block)."""
    if names is None:
        pairs: Iterable[tuple[str, int]] = zip(block.names, block.sizes, strict=True)
    else:
        size_of = dict(zip(block.names, block.sizes, strict=True))
        pairs = ((n, size_of[n]) for n in names)
    return infos_of(block.rel + "/", pairs)


# ObjectInfo(key, size) goes through the NamedTuple's Python __new__ (~1 µs); building the
# tuple directly gives the same object in 0.4 µs: this runs once per listed object on both
# sides. Only while ObjectInfo has exactly these fields (else: the plain constructor).
_tuple_new = tuple.__new__
_FAST = ObjectInfo._fields == ("key", "size", "modified", "etag", "checksums", "retain_until")


def infos_of(pre: str, pairs: Iterable[tuple[str, int]]) -> list[ObjectInfo]:
    """ObjectInfo of the objects `pairs` (name, size); their keys are `pre` + name."""
    if _FAST:
        return [_tuple_new(ObjectInfo, (pre + name, size, None, None, EMPTY_MAPPING, None)) for name, size in pairs]
    return [ObjectInfo(key=pre + name, size=size) for name, size in pairs]


class LocalReplicaWriter:
    """Objects written temp + rename under `root`. An object may also be *staged*: written
    and checked under a temp name of the run (`stage_tag`: the same in the helper processes
    as in the parent) and renamed later by publish() — so the next phase can be copied
    while the previous one's barrier waits on the disk, and still appear only after it."""

    def __init__(self, root: Path, stage_tag: str | None = None) -> None:
        self.root = root
        self._root = str(root)
        self._dirs: set[str] = set()
        self._tag = f"{_token()}-{os.getpid()}"
        # Per writer, not per process: two runs in one process (the scheduler) never share it.
        self.stage_tag = stage_tag or f"{self._tag}.{next(_writers)}"
        self.direct = _O_DIRECT != 0  # big objects skip the page cache (_copy_direct)

    def put(self, key: str, data: bytes | BinaryIO, *, retain_until: datetime | None = None,
            stage: bool = False) -> None:
        def write(fd: int) -> None:
            if isinstance(data, bytes | bytearray | memoryview):
                _write_all(fd, memoryview(data))
            else:
                while block := data.read(1 << 20):
                    _write_all(fd, memoryview(block))
        self._write(key, write, _nothing, stage=stage)

    def copy_file(self, key: str, src_path: str, on_block: Callable[[memoryview], None],
                  before_rename: Callable[[], None], *, stage: bool = False) -> int:
        """Copy the file at `src_path` under `key`: every block goes through `on_block`
        (hashing) and then to the temp file; `before_rename` may still refuse the object
        (raise), in which case nothing appears under `key`. Plain descriptors and one reused
        buffer per thread: no file objects, no fresh 1 MiB bytes (an mmap/munmap each) per
        read — per small object that overhead was most of the Python time. Objects of at
        least DIRECT_MIN bytes skip the page cache (see _copy_direct). `stage`: leave it
        under its staged name for publish()."""
        src = os.open(src_path, os.O_RDONLY | os.O_CLOEXEC)  # FileNotFoundError: the caller's
        total = 0

        def write(fd: int) -> None:
            nonlocal total
            total = _copy_buffered(src, fd, on_block)

        def write_direct(fd: int) -> None:
            nonlocal total
            total, refused = _copy_direct(src, fd, on_block)
            if refused:
                self.direct = False  # this file system refuses O_DIRECT writes: do not ask again
        try:
            if self.direct and os.fstat(src).st_size >= DIRECT_MIN:
                self._write(key, write_direct, before_rename, direct=True, stage=stage)
            else:
                self._write(key, write, before_rename, stage=stage)
        finally:
            os.close(src)
        return total

    def _write(self, key: str, write: Callable[[int], None], before_rename: Callable[[], None], *,
               direct: bool = False, stage: bool = False) -> None:
        """Write the object once (`write` is called exactly once), check it, then rename it
        under its name (or leave it staged); on any failure nothing appears under the name.
        (O_TMPFILE + linkat would save the rename, but ext4 puts every such file on its
        global orphan list: measured 3x the system time with 8 writers.)"""
        path = os.path.join(self._root, validate_key(key))
        parent, name = os.path.split(path)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        # A temp name of our own per process and thread (a thread writes one object at a
        # time); listings skip the prefix, and a leftover of a killed run is replaced here.
        # A staged object's name is the run's, per object: publish() finds it from the key.
        tmp = (self._staged(parent, name) if stage
               else f"{parent}/{_TMP_PREFIX}{self._tag}-{threading.get_ident()}-{name}")
        fd = self._create(tmp, _CREATE | _O_DIRECT if direct else _CREATE)
        try:
            try:
                write(fd)
            finally:
                os.close(fd)
            before_rename()
            if not stage:
                os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _staged(self, parent: str, name: str) -> str:
        return f"{parent}/{_TMP_PREFIX}staged-{self.stage_tag}-{name}"

    def publish(self, key: str) -> None:
        """Rename a staged object under its name (FileNotFoundError: it was not staged)."""
        path = os.path.join(self._root, validate_key(key))
        os.replace(self._staged(*os.path.split(path)), path)

    def discard(self, key: str) -> None:
        """Remove a staged object that is not to be published (gone already: nothing to do)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._staged(*os.path.split(os.path.join(self._root, validate_key(key)))))

    def _create(self, tmp: str, flags: int) -> int:
        try:
            try:
                return os.open(tmp, flags, 0o600)
            except FileExistsError:
                os.unlink(tmp)
                return os.open(tmp, flags, 0o600)
        except OSError as exc:
            if not flags & _O_DIRECT or exc.errno != errno.EINVAL:
                raise
            self.direct = False  # this file system takes no O_DIRECT (tmpfs, some FUSE): page cache
            return self._create(tmp, flags & ~_O_DIRECT)

    def sweep_temps(self, older_than: float) -> tuple[int, list[str]]:
        """What killed writers left under the root (storage.base.TempSweeper): see
        sweep_stale_temps."""
        return sweep_stale_temps(self.root, older_than)

    def barrier(self) -> None:
        """Make everything written so far durable (one syncfs for the whole filesystem)."""
        syncfs_dir(self.root)


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_writers = itertools.count(1)
# This writer's temp names: <prefix><token>-<pid>-<thread>-<name> and, staged,
# <prefix>staged-<token>-<pid>.<writer>-<name>; the token names this machine's boot and PID
# namespace, so a pid is only ever judged where it means something. (LocalBackend's
# mkstemp names never match: their random part is 8 characters and holds no '-'.)
_OUR_TEMP = re.compile(re.escape(_TMP_PREFIX) + r"(?:staged-)?([0-9a-f]{8})-(\d{1,10})[.-]")


@functools.cache
def _token() -> str:
    parts = [os.uname().nodename]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    import blake3  # already loaded by the replication modules

    return blake3.blake3("\0".join(parts).encode()).hexdigest()[:8]


def sweep_stale_temps(root: Path, older_than: float = STALE_TEMP_AGE) -> tuple[int, list[str]]:
    """Remove the temp and staged files that replica writers of processes no longer alive
    on this machine (same boot, same PID namespace) left under `root` — a killed run's
    temp files are never renamed. Files of live processes, of other machines or
    containers, and of other users are left alone. Other writers' temp files (a killed
    LocalBackend put: a backup or a repair into this directory) carry no pid: they go once
    untouched for `older_than` seconds (and ours: same user), as LocalBackend.sweep_temps
    judges them by age. Only the root and the repository's directories are walked, on the
    root's file system.
    Returns (how many were removed, what could not be looked at or removed)."""
    from dr_orchestrator.storage.local import repo_dirs_on, scan_tree, stale_file

    removed = 0
    problems: list[str] = []
    uid, token = os.geteuid(), _token()
    cutoff = time.time() - older_than
    alive: dict[int, bool] = {}
    try:
        dev = os.stat(root).st_dev
    except FileNotFoundError:
        return 0, []
    except OSError as exc:
        return 0, [f"{root}: {exc.strerror or exc}"]
    for e in scan_tree(str(root), problems, repo_dirs_on(dev)):
        if not e.name.startswith(_TMP_PREFIX):
            continue
        try:
            m = _OUR_TEMP.match(e.name)
            if m is None:  # another writer's temp file (no pid in its name): by its age
                stale = stale_file(e, cutoff, uid)
            elif m.group(1) != token:
                continue
            else:
                pid = int(m.group(2))
                if pid not in alive:
                    alive[pid] = _alive(pid)
                stale = not alive[pid] and e.stat(follow_symlinks=False).st_uid == uid
            if stale:
                os.unlink(e.path)
                removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{e.path}: {exc.strerror or exc}")
    return removed, problems


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # someone else's process
        return True
    return True


_local = threading.local()


def syncfs_dir(path: Path) -> None:
    """syncfs() of the file system holding `path` (sync() where there is no syncfs)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _nothing() -> None:
    return None


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data):]


def _copy_buffered(src: int, fd: int, on_block: Callable[[memoryview], None]) -> int:
    buf = _buffer()
    view = memoryview(buf)
    size = len(buf)
    total = started = 0
    while n := os.readv(src, (buf,)):
        block = view[:n]
        on_block(block)
        _write_all(fd, block)
        total += n
        if total - started >= _WRITEBACK_STEP:
            _start_writeback(fd, started, total - started)
            started = total
        if n < size:
            break  # a short read of a regular file is its end (and the hash decides anyway)
    if started and total > started:  # the rest of a big object; small ones: see _WRITEBACK_STEP
        _start_writeback(fd, started, total - started)
    return total


# Big objects are written with O_DIRECT: from our aligned buffer to the disk, no copy into
# the page cache. Writing into the page cache is the costly part of a local copy here:
# perf put half of a buffered copy's CPU in copy_folio_from_iter_atomic (this VM backs
# fresh guest memory on first touch). Measured on the bench's 64 objects of 16 MiB, one
# process: buffered with early writeback 4.6 s and 4.0 s of CPU, O_DIRECT 2.4 s and 1.1 s
# (the syncfs after it then waits ~1.9 s for the disk either way). In a full copy that
# CPU goes to the small objects copied beside them; the wall time stays bound by the
# disk. It also leaves the page cache to what the machine is doing (a replica is not read
# back soon). Small objects keep the page cache: an O_DIRECT write per 10 KiB file would
# wait on the disk each time, and its unaligned tail would be written through the cache
# anyway. The phase's syncfs still decides durability (sizes and extents are metadata).
DIRECT_MIN = 1 << 20
DIRECT_BUF = 4 << 20  # per copying thread; two writers keep the disk's queue busy
_ALIGN = 4096  # O_DIRECT: offsets, lengths and the buffer aligned (mmap memory is page-aligned)
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def _copy_direct(src: int, fd: int, on_block: Callable[[memoryview], None]) -> tuple[int, bool]:
    """Copy through an aligned buffer with `fd` opened O_DIRECT: (bytes, whether the file
    system refused an O_DIRECT write). The unaligned tail (and everything after a refusal)
    goes through the page cache: the descriptor drops O_DIRECT and the copy goes on at the
    same offset. Reads until end of file (a big object may come in short reads)."""
    buf: mmap.mmap | None = getattr(_local, "dbuf", None)
    if buf is None:
        buf = _local.dbuf = mmap.mmap(-1, DIRECT_BUF)
    view = memoryview(buf)
    total = 0
    state = _DIRECT
    while n := os.readv(src, (buf,)):
        block = view[:n]
        on_block(block)
        if state == _DIRECT:
            state = _write_direct(fd, block)
        else:
            _write_all(fd, block)
        total += n
    return total, state == _REFUSED


_DIRECT, _TAIL, _REFUSED = 0, 1, 2


def _write_direct(fd: int, block: memoryview) -> int:
    """Write `block`, its aligned head with O_DIRECT: _DIRECT if `fd` still has O_DIRECT,
    else _TAIL (an unaligned end went through the page cache) or _REFUSED."""
    head = len(block) - len(block) % _ALIGN
    done = 0
    state = _TAIL
    try:
        while done < head:
            done += os.write(fd, block[done:head])
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        head, state = done, _REFUSED  # refused (or a short write left the offset unaligned): the rest buffered
    if head == len(block):
        return _DIRECT
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)
    _write_all(fd, block[head:])
    return state


def _buffer() -> bytearray:
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(1 << 20)
    return buf


# Where O_DIRECT is not available, a big object is handed to the disk as it is written
# (sync_file_range WRITE: start the writeback, do not wait) instead of all of it at the
# end of the phase: with a lot of RAM the kernel starts writing back only after gigabytes
# are dirty, so the phase's syncfs used to wait for the whole phase's bytes (~3 s of a
# 12 s copy of 1.3 GiB here) while the disk had been idle during the copy. Objects
# smaller than one step are left to the phase's syncfs, which writes them back together:
# one call per small object made one write request each (20,800 requests of 64 KiB on
# average for a full copy, against ~1,000 of 1.3 MiB through the syncfs), and the full
# copy took 6.4-7.6 s instead of 5.7-6.5 s (three rounds, alternating, the source in the
# page cache each time). The syncfs still decides durability.
_WRITEBACK_STEP = 4 << 20
_SYNC_FILE_RANGE_WRITE = 2


def _start_writeback(fd: int, offset: int, nbytes: int) -> None:
    global _sfr_fn
    if _sfr_fn is None:
        import ctypes  # here: `dro` start-up does not pay for it

        try:
            _sfr_fn = ctypes.CDLL(None, use_errno=True).sync_file_range
            _sfr_fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
        except (OSError, AttributeError):
            _sfr_fn = lambda *a: -1  # noqa: E731 - not on this system: the kernel writes back by itself
    _sfr_fn(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)  # a failure only means: later, by syncfs


_sfr_fn: Any = None


def _syncfs(fd: int) -> int:
    global _syncfs_fn
    if _syncfs_fn is None:
        import ctypes

        try:  # the C library this process already runs on: no find_library() search
            _syncfs_fn = ctypes.CDLL(None, use_errno=True).syncfs
        except (OSError, AttributeError):
            _syncfs_fn = lambda fd: -1  # noqa: E731 - no syncfs here: the caller falls back to sync()
    return int(_syncfs_fn(fd))


_syncfs_fn: Any = None
