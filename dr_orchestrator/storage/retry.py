"""The one retry policy of the storage layer.

`RetryingBackend` wraps every backend the registry opens. It retries only errors
whose `retryable` flag is set (StorageUnavailable: connection errors, 5xx,
timeouts), with exponential backoff and full jitter, bounded both in attempts and
in total time. SDK clients are configured with (almost) no retries of their own so
this is the only policy in force.

- Streamed puts are retried only when the source can be rewound (`seekable()`);
  otherwise the first failure is reported as a retryable StorageUnavailable that
  says why it was not retried here.
- Reads resume: a stream that breaks mid-way is reopened at the byte it stopped at,
  so the caller sees one byte-exact stream.
- Listings restart after a failure and skip what was already yielded.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, TypeVar, cast

from dr_orchestrator.errors import DRError, ObjectExists, StorageUnavailable
from dr_orchestrator.storage.base import Backend, Capabilities, ObjectInfo, SweepResult, TempSweeper, accepts

if TYPE_CHECKING:
    import logging


def log() -> logging.Logger:
    """This module's logger. logging (and random, below) load on the first retry: they
    were ~7 ms of every `dro` start, most of which never retries."""
    import logging

    return logging.getLogger(__name__)
T = TypeVar("T")


class RetryPolicy(NamedTuple):
    """How often and how long a transient storage error is retried."""
    attempts: int = 6  # total tries, the first included
    base_delay: float = 0.2  # seconds; the cap doubles from here each attempt
    max_delay: float = 10.0
    max_total: float = 120.0  # never start an attempt after this many seconds

    def delays(self) -> Iterator[float]:
        """Full jitter: uniform(0, min(max_delay, base * 2**n))."""
        import random

        for n in range(self.attempts - 1):
            yield random.uniform(0, min(self.max_delay, self.base_delay * 2**n))


DEFAULT_POLICY = RetryPolicy()


def call(policy: RetryPolicy, what: str, fn: Callable[[], T],
         before_retry: Callable[[], None] | None = None) -> T:
    """Run `fn`, retrying retryable DRErrors under `policy`."""
    start = time.monotonic()
    delays = policy.delays()
    attempt = 1
    while True:
        try:
            return fn()
        except DRError as exc:
            if not exc.retryable:
                raise
            delay = next(delays, None)
            if delay is None or time.monotonic() - start + delay > policy.max_total:
                raise _gave_up(exc, what, attempt, time.monotonic() - start) from exc
            log().info("storage: %s failed (%s); retry %d in %.2fs", what, exc.message, attempt, delay)
            time.sleep(delay)
            attempt += 1
            if before_retry is not None:
                before_retry()


def _gave_up(exc: DRError, what: str, attempts: int, elapsed: float) -> StorageUnavailable:
    return StorageUnavailable(f"{exc.message} ({what}: gave up after {attempts} attempt(s), {elapsed:.1f}s)",
                              exc.hint or "check that the storage service is reachable, then run again")


def unwrap(backend: Backend) -> Backend:
    """The backend inside any RetryingBackend (for server-side copy type checks)."""
    while isinstance(backend, RetryingBackend):
        backend = backend.inner
    return backend


class RetryingBackend:
    """A Backend that applies `policy` around another Backend's calls."""

    def __init__(self, inner: Backend, policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self.inner = inner
        self.policy = policy
        self.url: str = inner.url
        self.capabilities: Capabilities = inner.capabilities

    def __repr__(self) -> str:
        return f"RetryingBackend({self.inner!r})"

    def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False,
            retain_until: datetime | None = None) -> None:
        tries = 0

        def once() -> None:
            nonlocal tries
            tries += 1
            try:
                self.inner.put(key, data, if_absent=if_absent, retain_until=retain_until)
            except ObjectExists:
                # A create-only put retried after a lost response may find its own earlier
                # attempt: that is success when the stored bytes are ours.
                if tries > 1 and isinstance(data, bytes | bytearray | memoryview) and \
                        self.inner.get(key) == bytes(data):
                    return
                raise

        if isinstance(data, bytes | bytearray | memoryview):
            return call(self.policy, f"put {key}", once)
        seekable = _seekable(data)
        if not seekable:
            try:
                return once()
            except DRError as exc:
                if not exc.retryable:
                    raise
                raise StorageUnavailable(
                    f"{exc.message} (put {key}: the source stream cannot be rewound, so it was not retried)",
                    "run again; the object was not stored") from exc
        start = data.tell()

        def rewind() -> None:
            data.seek(start)

        return call(self.policy, f"put {key}", once, before_retry=rewind)

    def open_read(self, key: str, offset: int = 0,
                  length: int | None = None) -> AbstractContextManager[BinaryIO]:
        return _resuming(self, key, offset, length)

    def get(self, key: str) -> bytes:
        return call(self.policy, f"get {key}", lambda: self.inner.get(key))

    def stat(self, key: str) -> ObjectInfo:
        return call(self.policy, f"stat {key}", lambda: self.inner.stat(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        yielded = 0
        start = time.monotonic()
        delays = self.policy.delays()
        attempt = 1
        while True:
            try:
                for n, info in enumerate(self.inner.list(prefix)):
                    if n >= yielded:  # skip what an earlier attempt already handed out
                        yielded += 1
                        yield info
                return
            except DRError as exc:
                delay = next(delays, None)
                if not exc.retryable:
                    raise
                if delay is None or time.monotonic() - start + delay > self.policy.max_total:
                    raise _gave_up(exc, f"list {prefix!r}", attempt, time.monotonic() - start) from exc
                time.sleep(delay)
                attempt += 1

    def delete(self, key: str) -> None:
        call(self.policy, f"delete {key}", lambda: self.inner.delete(key))

    def copy_from(self, source: Backend, src_key: str, dst_key: str, *,
                  retain_until: datetime | None = None, size: int | None = None,
                  etag: str | None = None) -> bool:
        """Optional hints go to backends that take them; a lock the inner backend cannot set on
        a copy means no server-side copy (the caller streams and put()s with the lock)."""
        src = unwrap(source)
        copy = self.inner.copy_from
        kwargs: dict[str, Any] = {}
        if retain_until is not None:
            if not accepts(copy, "retain_until"):
                return False
            kwargs["retain_until"] = retain_until
        if size is not None and accepts(copy, "size"):
            kwargs["size"] = size
        if etag is not None and accepts(copy, "etag"):
            kwargs["etag"] = etag
        return call(self.policy, f"copy {src_key}", lambda: self.inner.copy_from(src, src_key, dst_key, **kwargs))

    @property
    def sweep_temps(self) -> Callable[[float], SweepResult]:
        """The inner backend's own (base.TempSweeper), or AttributeError like a backend that
        has none: `getattr(backend, "sweep_temps", None)` sees through this wrapper. Not
        retried: a sweep reports its errors instead of raising, and the next one carries on."""
        return cast(TempSweeper, self.inner).sweep_temps

    def close(self) -> None:
        self.inner.close()


def _seekable(data: BinaryIO) -> bool:
    try:
        return bool(data.seekable()) and data.tell() >= 0
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def _resuming(rb: RetryingBackend, key: str, offset: int, length: int | None) -> Iterator[BinaryIO]:
    reader = _ResumingReader(rb, key, offset, length)
    try:
        reader.reopen()
        yield reader  # type: ignore[misc]
    finally:
        reader.close()


class _ResumingReader:
    """Reads [offset, offset+length) and reopens after a retryable failure at the byte it stopped."""

    def __init__(self, rb: RetryingBackend, key: str, offset: int, length: int | None) -> None:
        self._rb = rb
        self._key = key
        self._pos = offset
        self._left = length  # None: to the end
        self._cm: AbstractContextManager[BinaryIO] | None = None
        self._stream: BinaryIO | None = None

    def reopen(self) -> None:
        def open_once() -> None:
            self._close_stream()
            cm = self._rb.inner.open_read(self._key, self._pos, self._left)
            self._stream = cm.__enter__()
            self._cm = cm

        call(self._rb.policy, f"read {self._key}", open_once)

    def read(self, n: int = -1) -> bytes:
        if self._left == 0:
            return b""
        if n < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        start = time.monotonic()
        delays = self._rb.policy.delays()
        attempt = 1
        while True:
            try:
                assert self._stream is not None
                data = self._stream.read(n if self._left is None else min(n, self._left))
                break
            except DRError as exc:
                delay = next(delays, None)
                if not exc.retryable:
                    raise
                if delay is None or time.monotonic() - start + delay > self._rb.policy.max_total:
                    raise _gave_up(exc, f"read {self._key}", attempt, time.monotonic() - start) from exc
                log().info("storage: read of %s broke at byte %d (%s); resuming", self._key, self._pos,
                         exc.message)
                time.sleep(delay)
                attempt += 1
                self.reopen()
        self._pos += len(data)
        if self._left is not None:
            self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def _close_stream(self) -> None:
        cm, self._cm, self._stream = self._cm, None, None
        if cm is not None:
            with contextlib.suppress(Exception):
                cm.__exit__(None, None, None)

    def close(self) -> None:
        self._close_stream()
