"""Bandwidth limit (token bucket) and a memory budget shared by the transfer threads.

Both take an injectable clock/sleep so unit tests run without waiting.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dr_orchestrator.errors import BadInput

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*?)(?:/s)?\s*")


def parse_rate(text: str) -> int:
    """'50MiB', '10MB/s', '1.5GiB', '1048576' → bytes per second."""
    m = _SIZE.fullmatch(text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise BadInput(f"cannot read bandwidth {text!r}", "write it like 50MiB, 10MB or 1048576 (bytes/s)")
    rate = int(float(m.group(1)) * _UNITS[unit])
    if rate <= 0:
        raise BadInput(f"bandwidth {text!r} must be positive")
    return rate


class TokenBucket:
    """Classic token bucket: `rate` bytes/s sustained, bursts up to `burst` bytes.

    `consume(n)` blocks until n tokens were available; requests larger than the burst
    are served in burst-sized pieces so a big read cannot starve everyone forever.
    """

    def __init__(self, rate: float, burst: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate / 4, 16 * 1024))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def consume(self, n: int) -> None:
        left = float(n)
        while left > 0:
            take = min(left, self.burst)
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                # Go into debt for `take` and sleep it off: fair across threads and exact
                # on average, without a polling loop.
                self._tokens -= take
                wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            if wait > 0:
                self._sleep(wait)
            left -= take


class MemoryBudget:
    """At most `limit` bytes of object data held in memory by all threads together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._cond = threading.Condition()
        self.peak = 0

    @contextmanager
    def reserve(self, n: int) -> Iterator[None]:
        n = min(n, self.limit)  # one object larger than the budget still runs, alone
        with self._cond:
            while self._used + n > self.limit:
                self._cond.wait()
            self._used += n
            self.peak = max(self.peak, self._used)
        try:
            yield
        finally:
            with self._cond:
                self._used -= n
                self._cond.notify_all()
