"""Fast, memory-bounded reading of a remote file over SFTP (paramiko).

paramiko's `prefetch` pipelines read requests, which is what makes SFTP downloads
fast, but it keeps every block that arrives until it is read, and its `read(n)` grows
a bytes buffer by concatenation (quadratic in n). `RangeReader` prefetches a window
at a time and takes one block per call, so memory stays bounded and big reads stay
linear.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import paramiko

_PIECE = 32768  # paramiko's SFTP read request size
_CHUNK = 1 << 20
READ_WINDOW = 8 << 20  # bytes prefetched ahead of a reader: bounds memory, keeps the pipe full


class RangeReader(io.RawIOBase):
    """Bytes [start, end) of a remote file, prefetched READ_WINDOW at a time.

    paramiko's prefetch pipelines the reads (fast), but it keeps whatever arrives until
    it is read; prefetching a window at a time keeps memory bounded however big the
    object and however slow the consumer (and bounds what an early close must drain).
    """

    def __init__(self, f: paramiko.SFTPFile, start: int, end: int,
                 guard: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext) -> None:
        super().__init__()
        self._f = f
        self._guard = guard
        self._pos = start
        self._end = end
        self._window_end = start
        quiet_prefetch(f)
        f.seek(start)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.read(_CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        n = min(size, self._end - self._pos)
        if n <= 0:
            return b""
        want = min(n, self._window_end - self._pos) if self._pos < self._window_end else 0
        pieces = []
        with self._guard():
            if not want:
                self._window_end = min(self._end, self._pos + READ_WINDOW)
                self._f.prefetch(self._window_end)
                want = min(n, self._window_end - self._pos)
            got = 0
            while got < want:
                # One prefetched block per call: paramiko's read() grows a bytes buffer by
                # concatenation, which is quadratic for big reads (8 MiB: ~20x slower).
                piece = self._f.read(min(_PIECE, want - got))
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._pos += len(data)
        if not data:
            self._end = self._pos  # the file shrank under us
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def quiet_prefetch(f: paramiko.SFTPFile) -> None:
    """Keep a dropped connection's error out of paramiko's prefetch thread.

    paramiko sends a prefetch's read requests from a thread of its own. When the connection
    drops meanwhile, that thread dies with "Socket is closed", and Python prints its
    traceback to stderr — noise in a run that then retries and heals, since the reader's
    next read fails on the same dead connection and its caller handles that. Here the
    thread's connection errors end it quietly; anything else still surfaces. (This wraps a
    private paramiko method, looked up per file; without it, nothing changes.)"""
    inner = getattr(f, "_prefetch_thread", None)
    if inner is None or getattr(inner, "__wrapped__", None) is not None:
        return

    def prefetch_thread(*args: Any) -> None:
        try:
            inner(*args)
        except (OSError, EOFError, paramiko.SSHException):
            return  # the connection is gone: the reader's next read raises (and is retried)
    prefetch_thread.__wrapped__ = inner  # type: ignore[attr-defined]
    setattr(f, "_prefetch_thread", prefetch_thread)  # noqa: B010 - a private attribute paramiko stubs do not name
