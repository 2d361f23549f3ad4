"""Moving one object from a source backend to a target backend, verified.

Two ways:
- server-side (`target.copy_from(source, …)` returns True): the providers copy the bytes.
  What is verified then:
  * always: backends that take the source's `etag` check their copy against it without a
    request of their own (S3: the ETag CopyObject returns equals the source's single-part
    ETag, i.e. its MD5, else the copy's CRC32C equals the source's; multipart sources are
    not compared); a copy that does not match is replaced by a streamed one. After the
    phase, size (and provider checksum where listed) at the target are compared with the
    source's listing (replicator._confirm).
    This shows the copy holds the source's bytes — not that the source's bytes are right;
  * "content" verify mode (the default) also reads every copy back once and checks that
    it hashes to its BLAKE3 name, so a source object damaged at rest is caught and never
    published ("checksum" mode skips that read: one request per object instead of two).
- streamed: we read the source in chunks, hash while reading, and only hand the bytes
  to `target.put` once the hash matched. Objects up to `in_memory_max` are buffered
  (counted against a shared memory budget); bigger ones go through `_VerifyingReader`,
  which raises at end-of-stream on a mismatch so the (atomic) put is aborted. Either
  way a corrupt source object is never written to the target.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, NamedTuple

from dr_orchestrator.errors import DRError, IntegrityError, ObjectLocked, ObjectNotFound
from dr_orchestrator.replication import layout, localfast
from dr_orchestrator.replication.localfast import LocalReplicaWriter, local_root
from dr_orchestrator.replication.report import Counters
from dr_orchestrator.replication.throttle import MemoryBudget, TokenBucket
from dr_orchestrator.replication.workers import interleaved, run_parallel
from dr_orchestrator.storage.base import Backend, ObjectInfo, accepts, validate_key
from dr_orchestrator.storage.retry import unwrap

CHUNK = 1 << 20
# Threads writing the big objects of a helper batch (O_DIRECT): two keep the disk's queue busy.
DIRECT_THREADS = 2


class SourceCorrupt(IntegrityError):
    """The source object's bytes do not hash to its name."""


class Abandoned(DRError):
    """A stop was requested before the object's write began; nothing was written."""


class Outcome(enum.StrEnum):
    SERVER_SIDE = "server-side"
    STREAMED = "streamed"
    SOURCE_CORRUPT = "source-corrupt"
    ABANDONED = "abandoned"
    FAILED = "failed"


class Result(NamedTuple):
    """The outcome of copying one object."""
    key: str
    outcome: Outcome
    size: int = 0
    error: str | None = None


class Transfer:
    """Copies objects source → target; one instance is shared by all worker threads."""

    def __init__(self, source: Backend, target: Backend, *, counters: Counters,
                 budget: MemoryBudget, limiter: TokenBucket | None = None,
                 retain_until: datetime | None = None, server_side: bool | None = None,
                 verify: str = "content", in_memory_max: int = 64 << 20,
                 stop: threading.Event | None = None, attempts: int = 3, local_fast: bool = True) -> None:
        self.source = source
        self.attempts = attempts
        self.target = target
        self.counters = counters
        self.budget = budget
        self.limiter = limiter
        self.retain_until = retain_until
        self.verify = verify
        self.in_memory_max = in_memory_max
        self.stop = stop or threading.Event()
        self.server_side = self._use_server_side() if server_side is None else server_side
        root = local_root(target) if local_fast else None
        self.local_writer = LocalReplicaWriter(root) if root is not None else None
        self._put = self.local_writer.put if self.local_writer else target.put
        # A local file needs no retry/resume layer around its reads.
        self._local_source = local_root(source)
        self._local_path = f"{self._local_source}{os.sep}" if self._local_source is not None else ""
        self._reader = unwrap(source) if self._local_source is not None else source
        self._helpers: Any = None  # localproc.HelperPool once started
        self.local_pair = self._local_source is not None and self.local_writer is not None
        if self.local_writer is not None:
            self.in_memory_max = 0  # stream straight into the temp file; it is renamed only if the hash matched

    # --- many objects directory → directory: helper processes (localproc.py) ----------

    def use_helpers(self, batch: list[ObjectInfo], workers: int) -> bool:
        """Copy this batch in helper processes? Directory → directory, no bandwidth limit,
        several CPUs, and a batch big enough to pay for starting them (or already started)."""
        if self._local_source is None or self.local_writer is None or self.limiter is not None:
            return False
        if self._helpers is not None:
            return bool(batch)
        from dr_orchestrator.replication import localproc

        n = localproc.helper_count(workers)
        if n < 2 or (len(batch) < localproc.MIN_OBJECTS and sum(i.size for i in batch) < localproc.MIN_BYTES):
            return False
        self._helpers = localproc.HelperPool(self._local_source, self.local_writer.root, n, self.local_writer.stage_tag)
        return True

    def copy_local_pair(self, batch: list[ObjectInfo], *, stage: bool = False, helpers: bool = False,
                        workers: int = DIRECT_THREADS) -> Iterator[Result]:
        """Like copy() for every object of `batch`, directory → directory. Objects of
        DIRECT_MIN bytes or more go to up to DIRECT_THREADS threads, one at a time: written
        with O_DIRECT (localfast._copy_direct) they take little CPU and mostly wait on the
        disk, which is so kept busy from the start. Meanwhile the small ones are copied by
        the helper processes (`helpers`: a batch use_helpers() accepted) or else by the
        calling thread — more threads would only fight over the GIL for them (160 objects
        of 0.5-64 KiB: 23-29 ms here; two threads and a third consuming: 30-38 ms)."""
        assert self.local_writer is not None
        direct_min = localfast.DIRECT_MIN if self.local_writer.direct else float("inf")
        big = [i for i in batch if i.size >= direct_min]
        small = [i for i in batch if i.size < direct_min]
        copy = functools.partial(self.copy, stage=stage)
        rest = self._helper_results(small, stage) if helpers else run_parallel(small, copy, 1, self.stop)
        if not big:
            yield from rest
            return
        threads = min(DIRECT_THREADS, max(1, workers), len(big))
        in_threads = run_parallel(big, copy, threads, self.stop, name="dro-direct")
        yield from interleaved(rest, in_threads) if small else in_threads

    def _helper_results(self, batch: list[ObjectInfo], stage: bool) -> Iterator[Result]:
        assert self._helpers is not None
        size_of = {i.key: i.size for i in batch}
        for key, status, value in self._helpers.copy((i.key for i in batch), self.stop, stage=stage):
            if status == "ok":
                size = int(value)
                self.counters.add_streamed(size, layout.expected_hash(key) is not None)
                yield Result(key, Outcome.STREAMED, size)
            elif status == "corrupt":
                yield Result(key, Outcome.SOURCE_CORRUPT, size_of[key], f"{self.source.url}: {key} {value}")
            elif status == "missing":
                yield Result(key, Outcome.FAILED, 0, f"{self.source.url}: {key} not found")
            else:
                yield Result(key, Outcome.FAILED, 0, value)

    def close(self) -> None:
        if self._helpers is not None:
            self._helpers.close()
            self._helpers = None

    @property
    def can_stage(self) -> bool:
        """Objects can be copied now and published (renamed) later: a local target."""
        return self.local_writer is not None

    def publish(self, key: str) -> None:
        assert self.local_writer is not None
        self.local_writer.publish(key)

    def discard(self, key: str) -> None:
        assert self.local_writer is not None
        self.local_writer.discard(key)

    def barrier(self) -> None:
        """End of a phase: make what was written durable before the next phase starts."""
        if self.local_writer is not None:
            self.local_writer.barrier()

    def _use_server_side(self) -> bool:
        if not self.target.capabilities.server_side_copy:
            return False
        # A local directory's "server" is this machine: streaming ourselves hashes the
        # bytes in flight for free, where copy_from would need a second read to verify.
        if self.target.url.startswith("file:") or self.source.url.startswith("file:"):
            return False
        # The lock must be set on write; without copy_from(retain_until=) only put() can.
        return self.retain_until is None or accepts(self.target.copy_from, "retain_until")

    # --- one object ------------------------------------------------------------------

    def copy(self, info: ObjectInfo, *, stage: bool = False) -> Result:
        """Copy one object. `stage` (local targets, see can_stage): leave it under its
        staged name for publish()."""
        key = info.key
        try:
            if self.stop.is_set():
                raise Abandoned(f"{key}: stop requested")
            if self.server_side and not stage and self._copy_server_side(info):
                return Result(key, Outcome.SERVER_SIDE, info.size)
            for attempt in range(1, self.attempts + 1):
                try:
                    size = self._copy_streamed(info, stage)
                    return Result(key, Outcome.STREAMED, size)
                except DRError as exc:
                    # Big objects stream through a non-rewindable reader, which the
                    # storage retry layer cannot replay: replay the whole object here.
                    if not exc.retryable or attempt == self.attempts or self.stop.is_set():
                        raise
            raise AssertionError("unreachable")
        except SourceCorrupt as exc:
            return Result(key, Outcome.SOURCE_CORRUPT, info.size, exc.message)
        except Abandoned as exc:
            return Result(key, Outcome.ABANDONED, 0, exc.message)
        except DRError as exc:
            return Result(key, Outcome.FAILED, 0, exc.message)
        except OSError as exc:  # the local end (disk full, I/O error): this object fails, the run reports it
            return Result(key, Outcome.FAILED, 0, f"{key}: {type(exc).__name__}: {exc.strerror or exc}")

    def _copy_server_side(self, info: ObjectInfo) -> bool:
        kwargs: dict[str, Any] = {"retain_until": self.retain_until} if self.retain_until is not None else {}
        if accepts(self.target.copy_from, "size"):
            kwargs["size"] = info.size  # the listing knows it: saves the backend a HEAD per object
        if info.etag and accepts(self.target.copy_from, "etag"):
            kwargs["etag"] = info.etag  # the backend checks its copy against the source's ETag/checksum
        try:
            copied = self.target.copy_from(self.source, info.key, info.key, **kwargs)
        except IntegrityError:
            # The provider's copy does not show the source's bytes: replace it by a streamed
            # copy, which checks the source's content hash (and so never propagates damage).
            with contextlib.suppress(ObjectLocked, ObjectNotFound):
                self.target.delete(info.key)
            return False
        if not copied:
            self.server_side = False  # this pair cannot (e.g. S3 → GCS): stop asking
            return False
        self.counters.add(objects_copied=1, objects_server_side=1, bytes_server_side=info.size)
        expected = layout.expected_hash(info.key)
        if self.verify == "content" and expected is not None:
            got = self.hash_object(self.target, info.key)
            if got != expected:
                # Bad copy (or bad source): drop it, then stream, which checks the source.
                # Under object lock the streamed put below writes a new version instead.
                with contextlib.suppress(ObjectLocked):
                    self.target.delete(info.key)
                self.counters.add(objects_copied=-1, objects_server_side=-1, bytes_server_side=-info.size)
                return False
            self.counters.add(objects_verified=1)
        return True

    def _copy_streamed(self, info: ObjectInfo, stage: bool = False) -> int:
        key = info.key
        expected = layout.expected_hash(key)
        put: Any = self._put
        if stage:
            if self.local_writer is None:
                raise AssertionError("staging needs a local target (can_stage)")
            put = functools.partial(self.local_writer.put, stage=True)
        if self._local_source is not None and self.local_writer is not None:
            size = self._copy_local(key, expected, stage)
        elif info.size > self.in_memory_max:
            with self.budget.reserve(CHUNK), self._reader.open_read(key) as f:
                reader = _VerifyingReader(f, key, expected, self.limiter, self.stop)
                put(key, reader, retain_until=self.retain_until)
                size = reader.size
        else:
            with self.budget.reserve(max(info.size, 1)):
                data = self._read_verified(self._reader, key, expected)
                if self.stop.is_set():
                    raise Abandoned(f"{key}: stop requested")
                put(key, data, retain_until=self.retain_until)
                size = len(data)
        self.counters.add_streamed(size, expected is not None)
        return size

    def _copy_local(self, key: str, expected: str | None, stage: bool = False) -> int:
        """Directory to directory: read into a reused buffer, hash, write the temp file;
        renamed into place only if the bytes hash to the name (same checks as streaming)."""
        assert self._local_source is not None and self.local_writer is not None
        hasher = layout.new_hasher()
        limiter, stop = self.limiter, self.stop

        def on_block(block: memoryview) -> None:
            if stop.is_set():
                raise Abandoned(f"{key}: stop requested mid-object")
            if limiter:
                limiter.consume(len(block))
            hasher.update(block)

        def check() -> None:
            if expected is not None and hasher.hexdigest() != expected:
                raise SourceCorrupt(f"{self.source.url}: {key} does not match its content hash")

        # No reservation against the memory budget: each thread copies through its own
        # reused 1 MiB buffer, so what this holds is bounded by the thread count anyway.
        try:
            return self.local_writer.copy_file(key, self._local_path + validate_key(key), on_block, check,
                                               stage=stage)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            if exc.filename and str(exc.filename).startswith(self._local_path):
                raise ObjectNotFound(f"{self.source.url}: {key} not found") from exc
            raise

    def _read_verified(self, backend: Backend, key: str, expected: str | None) -> bytes:
        chunks: list[bytes] = []
        hasher = layout.new_hasher()
        with backend.open_read(key) as f:
            while True:
                if self.stop.is_set():
                    raise Abandoned(f"{key}: stop requested")
                block = _read_source(f, CHUNK, backend.url, key)
                if not block:
                    break
                if self.limiter:
                    self.limiter.consume(len(block))
                hasher.update(block)
                chunks.append(block)
        if expected is not None and hasher.hexdigest() != expected:
            raise SourceCorrupt(f"{backend.url}: {key} does not match its content hash")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def hash_object(self, backend: Backend, key: str) -> str:
        """Read an object through and return its BLAKE3 (used to verify copies and sites)."""
        hasher = layout.new_hasher()
        n = 0
        with self.budget.reserve(CHUNK), backend.open_read(key) as f:
            while True:
                block = f.read(CHUNK)
                if not block:
                    break
                if self.limiter:
                    self.limiter.consume(len(block))
                hasher.update(block)
                n += len(block)
        self.counters.add(bytes_verify_read=n)
        return str(hasher.hexdigest())


class _VerifyingReader:
    """A read-only stream that hashes what passes and fails at EOF on a mismatch.

    Raising from read() makes the backend abort its atomic put, so a large corrupt
    object is never visible at the target even though we stream it.
    """

    def __init__(self, f: BinaryIO, key: str, expected: str | None, limiter: TokenBucket | None,
                 stop: threading.Event) -> None:
        self._f = f
        self._key = key
        self._expected = expected
        self._limiter = limiter
        self._stop = stop
        self._hasher = layout.new_hasher()
        self.size = 0
        self._done = False

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:  # read-all: only sane for small objects, but supported
            parts = []
            while block := self.read(CHUNK):
                parts.append(block)
            return b"".join(parts)
        if n == 0:
            return b""
        if self._stop.is_set():
            raise Abandoned(f"{self._key}: stop requested mid-object")
        block = _read_source(self._f, min(n, 8 * CHUNK), "source", self._key)
        if block:
            if self._limiter:
                self._limiter.consume(len(block))
            self._hasher.update(block)
            self.size += len(block)
            return block
        if not self._done:
            self._done = True
            if self._expected is not None and self._hasher.hexdigest() != self._expected:
                raise SourceCorrupt(f"{self._key} does not match its content hash")
        return b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _read_source(f: BinaryIO, n: int, where: str, key: str) -> bytes:
    try:
        return f.read(n)
    except SourceCorrupt:
        raise
    except IntegrityError as exc:  # the provider's own checksum caught damage at the source
        raise SourceCorrupt(f"{where}: {key}: {exc.message}") from exc
