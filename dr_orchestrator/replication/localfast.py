"""Writing replicas into a local directory: one durability barrier per phase.

LocalBackend.put fsyncs every file and its directory (~10 ms here): right for a
repository being written by a backup, but 20,000 objects would take minutes. A replica
is different — every object can be re-sent from the source — so here each object is
written to a temp file and renamed into place (atomic: a killed process never leaves a
partial object under its key), and the whole phase is made durable with one syncfs()
before the next phase starts. So data and index are on disk before any snapshot that
needs them is written, which is the consistency that matters. What a power cut can do:
leave objects of the last unsynced phase truncated; the next run sees the size differ
from the source's and re-sends them (`--deep` also catches same-size damage).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from dr_orchestrator.storage.base import Backend, ObjectInfo, validate_key

_TMP_PREFIX = ".dro-tmp-"  # LocalBackend's listing skips these names
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def local_root(backend: Backend) -> Path | None:
    from dr_orchestrator.storage.local import LocalBackend
    from dr_orchestrator.storage.retry import unwrap

    inner = unwrap(backend)
    # Exact type: a subclass may have its own idea of put().
    return inner.root if type(inner) is LocalBackend else None


def list_local(root: Path, prefix: str, workers: int = 16) -> Iterator[ObjectInfo]:
    """Like LocalBackend.list(prefix) for a directory prefix ("data/"), but directories are
    scanned and entries stat'ed in parallel: a walk is latency-bound, not CPU-bound."""
    base = root / prefix.rstrip("/")
    cut = len(str(root)) + 1
    try:
        top = list(os.scandir(base))
    except FileNotFoundError:
        return
    dirs = sorted(e.path for e in top if e.is_dir(follow_symlinks=False))
    files = [e for e in top if e.is_file(follow_symlinks=False) and not e.name.startswith(_TMP_PREFIX)]

    def stat_all(entries: list[os.DirEntry[str]]) -> list[ObjectInfo]:
        out = []
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished while we looked: not listed
            out.append(ObjectInfo(key=e.path[cut:].replace(os.sep, "/"), size=st.st_size,
                                  modified=datetime.fromtimestamp(st.st_mtime, UTC)))
        return out

    def scan(path: str) -> list[ObjectInfo]:
        found: list[os.DirEntry[str]] = []
        stack = [path]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except FileNotFoundError:
                continue
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif not e.name.startswith(_TMP_PREFIX):
                    found.append(e)
        return stat_all(found)

    chunks = [files[i:i + 256] for i in range(0, len(files), 256)]
    with ThreadPoolExecutor(workers, thread_name_prefix="dro-scan") as pool:
        for part in pool.map(stat_all, chunks):
            yield from part
        for part in pool.map(scan, dirs):
            yield from part


class LocalReplicaWriter:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: set[Path] = set()

    def put(self, key: str, data: bytes | BinaryIO, *, retain_until: datetime | None = None) -> None:
        path = self.root / validate_key(key)
        parent = path.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(parent)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(data, bytes | bytearray | memoryview):
                    f.write(data)
                else:
                    while block := data.read(1 << 20):
                        f.write(block)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def barrier(self) -> None:
        """Make everything written so far durable (one syncfs for the whole filesystem)."""
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _libc.syncfs(fd) != 0:
                os.sync()
        finally:
            os.close(fd)
