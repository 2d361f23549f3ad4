"""Time for the executor: one monotonic clock for durations, wall time for the journal.

`SystemClock` is the real thing; `FakeClock` lets unit tests run hours of retries,
waits and timeouts in microseconds and assert exact durations. Timeouts are enforced
through `run_with_timeout`: the real clock runs the attempt in a watchdog thread,
the fake clock calls it inline (fake handlers advance the fake time themselves).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class WatchdogExpired(Exception):
    """`run_with_timeout` gave up waiting for the function."""


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Sleep; returns False early when `cancel` is set."""
        ...

    def run_with_timeout(self, fn: Callable[[], T], timeout: float | None) -> T: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if seconds <= 0:
            return not (cancel and cancel.is_set())
        if cancel is None:
            time.sleep(seconds)
            return True
        return not cancel.wait(seconds)

    def run_with_timeout(self, fn: Callable[[], T], timeout: float | None) -> T:
        """Run fn; raise WatchdogExpired when it is still running after `timeout`.

        The function keeps running in its daemon thread (Python cannot kill a
        thread); handlers are told to stop through their cancel event.
        """
        if timeout is None:
            return fn()
        box: dict[str, object] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # re-raised in the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=target, daemon=True, name="dro-step")
        thread.start()
        thread.join(max(timeout, 0.0))
        if thread.is_alive():
            raise WatchdogExpired()
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]


class FakeClock:
    """Deterministic time. Sleeping advances the clock; threads share one timeline."""

    def __init__(self, start_wall: float = 1_800_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = 0.0
        self._wall0 = start_wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        with self._lock:
            return self._wall0 + self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        with self._lock:
            self.sleeps.append(seconds)
        if cancel is not None and cancel.is_set():
            return False
        self.advance(seconds)
        return True

    def run_with_timeout(self, fn: Callable[[], T], timeout: float | None) -> T:
        return fn()
