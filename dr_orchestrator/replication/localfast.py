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
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from dr_orchestrator.storage.base import Backend, validate_key

_TMP_PREFIX = ".dro-tmp-"  # LocalBackend's listing skips these names
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def local_root(backend: Backend) -> Path | None:
    from dr_orchestrator.storage.local import LocalBackend
    from dr_orchestrator.storage.retry import unwrap

    inner = unwrap(backend)
    # Exact type: a subclass may have its own idea of put().
    return inner.root if type(inner) is LocalBackend else None


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
