"""Stream helpers shared by the cloud backends.

`CheckedReader` is what every cloud `open_read` returns: it translates SDK errors
raised mid-stream into storage errors, treats a stream that ends before the
announced length as a (retryable) broken transfer instead of a short object, and
verifies the provider's whole-object checksum at the end of a full read.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

import google_crc32c

from dr_orchestrator.errors import DRError, IntegrityError, StorageUnavailable


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


def new_hasher(algorithm: str) -> Hasher:
    if algorithm == "crc32c":
        return google_crc32c.Checksum()  # type: ignore[no-any-return]
    return hashlib.new(algorithm)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def read_full(stream: BinaryIO, size: int) -> bytes:
    """Read up to `size` bytes, looping over short reads; fewer only at end of stream."""
    first = stream.read(size)
    if not first or len(first) == size:
        return first or b""
    parts = [first]
    got = len(first)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class CheckedReader:
    """A read-only stream over `raw_read` with error translation, length and checksum checks."""

    def __init__(self, raw_read: Callable[[int], bytes], *, length: int, what: str,
                 translate: Callable[[Exception], DRError],
                 checksum: tuple[str, str] | None = None, hasher: Hasher | None = None) -> None:
        self._raw_read = raw_read
        self._left = length
        self._what = what
        self._translate = translate
        self._expected = checksum  # (algorithm, base64 digest) of the whole object
        self._hasher = hasher or (new_hasher(checksum[0]) if checksum else None)

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            self._finish()
            return b""
        want = self._left if n < 0 else min(n, self._left)
        try:
            data = self._raw_read(want)
        except DRError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc
        if not data:
            raise StorageUnavailable(f"{self._what}: connection ended {self._left} byte(s) early",
                                     "the transfer broke; it is retried from where it stopped")
        if len(data) > self._left:  # never hand out more than the object (or range) holds
            data = data[: self._left]
        self._left -= len(data)
        if self._hasher is not None:
            self._hasher.update(data)
        if self._left == 0:
            self._finish()
        return data

    def _finish(self) -> None:
        if self._expected is None or self._hasher is None:
            return
        algorithm, expected = self._expected
        got = b64(self._hasher.digest())
        self._expected = None
        if got != expected:
            raise IntegrityError(f"{self._what}: {algorithm} of the bytes read ({got}) does not match the "
                                 f"checksum the server reported ({expected})",
                                 "the object or the transfer is corrupt; read it again or restore it "
                                 "from another copy")

    def readable(self) -> bool:
        return True


class IterReader:
    """`read(n)` over an iterator of byte chunks (Azure's `chunks()`)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")

    def __call__(self, n: int) -> bytes:
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buf = memoryview(chunk)
        data, self._buf = self._buf[:n], self._buf[n:]
        return bytes(data)
