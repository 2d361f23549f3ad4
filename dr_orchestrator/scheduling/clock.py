"""Injectable clocks: the daemon never calls time.* directly, so tests control time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC time."""
        ...

    def wait_until(self, when: datetime, stop: threading.Event) -> bool:
        """Block until `when` or until `stop` is set; True if `when` was reached."""
        ...


class SystemClock:
    # Waits are capped so a wall-clock jump (NTP, suspend/resume) is noticed within a minute.
    MAX_NAP = 60.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait_until(self, when: datetime, stop: threading.Event) -> bool:
        while True:
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return True
            if stop.wait(min(left, self.MAX_NAP)):
                return False


class ManualClock:
    """Time moves only when a test calls `advance`/`set`; waiters wake when it passes."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._cond = threading.Condition()
        self.waiting_until: datetime | None = None

    def now(self) -> datetime:
        with self._cond:
            return self._now

    def set(self, t: datetime) -> None:
        with self._cond:
            self._now = t
            self._cond.notify_all()

    def advance(self, delta: timedelta) -> None:
        self.set(self.now() + delta)

    def wait_until(self, when: datetime, stop: threading.Event) -> bool:
        with self._cond:
            self.waiting_until = when
            try:
                while self._now < when:
                    if stop.is_set():
                        return False
                    self._cond.wait(0.01)
                return not stop.is_set()
            finally:
                self.waiting_until = None

    def wait_for_sleeper(self, timeout: float = 5.0) -> datetime:
        """Test helper: block until someone waits on this clock; return what they wait for."""
        deadline = threading.Event()
        for _ in range(int(timeout / 0.005)):
            with self._cond:
                if self.waiting_until is not None:
                    return self.waiting_until
            deadline.wait(0.005)
        raise TimeoutError("nobody waited on the clock")
