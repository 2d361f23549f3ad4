"""Packs: many encrypted blobs per storage object (docs/repository-format.md §4).

Worker threads compress and encrypt blobs into their own reused buffers
(`BlobEncoder`), then copy them into the current pack under a lock; full packs go
to a bounded queue drained by uploader threads, so memory stays bounded however
fast the producers are.
"""

from __future__ import annotations

import queue
import secrets
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import zstandard

from dr_orchestrator.errors import DRError, IntegrityError
from dr_orchestrator.repository.crypto import Keys, blob_aad, object_name
from dr_orchestrator.repository.format import (
    BLOB_TYPE_BYTE,
    BLOB_TYPE_FROM_BYTE,
    COMPRESS_KEEP_RATIO,
    NONCE_LEN,
    PACK_MAGIC,
    TAG_LEN,
    ZSTD_LEVEL,
    pack_key,
)
from dr_orchestrator.storage.base import Backend

_ENTRY = struct.Struct("<B32sII")
_TRAILER = struct.Struct("<I8s")
_HEADER_AAD = b"dro1 pack header"
_TRIAL = 64 << 10


@dataclass(frozen=True)
class PackEntry:
    """One blob inside a pack."""

    blob_type: str
    blob_id: bytes
    offset: int
    length: int  # stored length (nonce + ciphertext + tag)
    ulen: int  # plaintext length


class BlobEncoder:
    """Per-thread compressor and output buffer: compress only when it pays, encrypt in place."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.trial = zstandard.ZstdCompressor(level=1)
        self.out = bytearray(0)

    def encode(self, blob_type: str, blob_id: bytes, data: bytes | memoryview) -> tuple[memoryview, int]:
        ulen = len(data)
        payload: bytes | memoryview = data
        # Cheap trial on a sample first: incompressible data (media, archives, encrypted
        # files) then costs nothing but the sample.
        if ulen >= 512 and (ulen <= _TRIAL or
                            len(self.trial.compress(data[:_TRIAL])) < _TRIAL * COMPRESS_KEEP_RATIO):
            packed = self.cctx.compress(data)
            if len(packed) < ulen * COMPRESS_KEEP_RATIO:
                payload = packed
        n = NONCE_LEN + len(payload) + TAG_LEN
        if len(self.out) < n:
            self.out = bytearray(max(n, len(self.out) * 2))
        view = memoryview(self.out)
        nonce = secrets.token_bytes(NONCE_LEN)
        view[:NONCE_LEN] = nonce
        self.keys.aead.encrypt_into(nonce, payload, blob_aad(blob_type, blob_id), view[NONCE_LEN:n])
        return view[:n], ulen


@dataclass
class FinishedPack:
    pack_id: str
    blob_type: str
    size: int
    entries: list[PackEntry]


class Packer:
    """Collects blobs of one type into packs and hands full packs to the uploader."""

    def __init__(self, keys: Keys, blob_type: str, pack_size: int, uploader: Uploader) -> None:
        self.keys = keys
        self.blob_type = blob_type
        self.pack_size = pack_size
        self.uploader = uploader
        self.lock = threading.Lock()
        self.buf = bytearray(0)  # allocated on first use: most runs add few or no tree blobs
        self.pos = 0
        self.entries: list[PackEntry] = []

    def add(self, blob_id: bytes, stored: memoryview, ulen: int) -> None:
        with self.lock:
            end = self.pos + len(stored)
            if end > len(self.buf):
                # Grow geometrically up to a full pack: tree packs of a small or incremental backup
                # then stay small instead of costing a whole pack buffer (peak RSS).
                want = max(end, min(self.pack_size + (1 << 20), max(2 * len(self.buf), 1 << 20)))
                self.buf.extend(bytes(want - len(self.buf)))
            self.buf[self.pos:end] = stored
            self.entries.append(PackEntry(self.blob_type, blob_id, self.pos, len(stored), ulen))
            self.pos = end
            if self.pos >= self.pack_size:
                self._finish_locked()

    def flush(self) -> None:
        with self.lock:
            if self.entries:
                self._finish_locked()

    def _finish_locked(self) -> None:
        header = b"".join(_ENTRY.pack(BLOB_TYPE_BYTE[e.blob_type], e.blob_id, e.length, e.ulen)
                          for e in self.entries)
        nonce = secrets.token_bytes(NONCE_LEN)
        sealed = nonce + self.keys.aead.encrypt(nonce, header, _HEADER_AAD)
        # One copy of the pack (join over a view); the buffer is reused for the next pack.
        stored = b"".join((memoryview(self.buf)[:self.pos], sealed, _TRAILER.pack(len(sealed), PACK_MAGIC)))
        pack = FinishedPack(object_name(stored), self.blob_type, len(stored), self.entries)
        self.entries = []
        self.pos = 0
        self.uploader.submit(pack, stored)


class Uploader:
    """Background threads that put finished packs; a bounded queue gives back-pressure."""

    def __init__(self, backend: Backend, on_done: Callable[[FinishedPack], None], *, threads: int = 2,
                 depth: int = 1, retain_until: datetime | None = None) -> None:
        self.backend = backend
        self.retain_until = retain_until  # immutable data classes: object-lock every pack
        self.on_done = on_done
        self.q: queue.Queue[tuple[FinishedPack, bytes] | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.threads = [threading.Thread(target=self._run, name=f"dro-upload-{i}", daemon=True)
                        for i in range(threads)]
        for t in self.threads:
            t.start()

    def submit(self, pack: FinishedPack, stored: bytes) -> None:
        self.check()
        self.q.put((pack, stored))

    def check(self) -> None:
        if self.error is not None:
            if isinstance(self.error, DRError):
                raise self.error
            raise DRError(f"uploading a pack failed: {self.error}") from self.error

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is not None:
                continue
            pack, stored = item
            try:
                if self.retain_until is not None:
                    self.backend.put(pack_key(pack.pack_id), stored, retain_until=self.retain_until)
                else:
                    self.backend.put(pack_key(pack.pack_id), stored)
                self.on_done(pack)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the producer
                self.error = exc

    def abort(self) -> None:
        """Stop after a failed run: drop queued packs (nothing references them) and end the threads."""
        if self.error is None:
            self.error = DRError("backup aborted")
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join()

    def close(self) -> None:
        """Wait for every queued pack; raise the first upload error."""
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join()
        self.check()


def parse_pack(keys: Keys, stored: bytes | memoryview, what: str) -> list[PackEntry]:
    """Entries of a pack from its own encrypted header."""
    if len(stored) < _TRAILER.size:
        raise IntegrityError(f"{what} is truncated")
    hlen, magic = _TRAILER.unpack_from(stored, len(stored) - _TRAILER.size)
    start = len(stored) - _TRAILER.size - hlen
    if magic != PACK_MAGIC or start < 0:
        raise IntegrityError(f"{what} has no valid pack trailer")
    sealed = stored[start:len(stored) - _TRAILER.size]
    try:
        header = keys.aead.decrypt(sealed[:NONCE_LEN], sealed[NONCE_LEN:], _HEADER_AAD)
    except Exception as exc:
        raise IntegrityError(f"{what}: pack header fails authentication") from exc
    entries: list[PackEntry] = []
    off = 0
    for i in range(0, len(header), _ENTRY.size):
        t, bid, length, ulen = _ENTRY.unpack_from(header, i)
        entries.append(PackEntry(BLOB_TYPE_FROM_BYTE.get(t, "?"), bid, off, length, ulen))
        off += length
    if off != start:
        raise IntegrityError(f"{what}: pack header does not match the pack's length")
    return entries
