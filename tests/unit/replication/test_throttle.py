"""Token bucket (with a fake clock), rate parsing, memory budget."""

from __future__ import annotations

import threading
import time

import pytest

from dr_orchestrator.errors import BadInput
from dr_orchestrator.replication.throttle import MemoryBudget, TokenBucket, parse_rate


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept += s
        self.t += s


def test_bucket_sustains_its_rate() -> None:
    c = FakeClock()
    b = TokenBucket(1_000_000, burst=100_000, clock=c.now, sleep=c.sleep)
    for _ in range(100):
        b.consume(100_000)  # 10 MB in total
    # the first burst is free, the remaining 9.9 MB take 9.9 s at 1 MB/s
    assert c.t == pytest.approx(9.9, rel=1e-6)


def test_bucket_refills_while_idle_but_caps_the_burst() -> None:
    c = FakeClock()
    b = TokenBucket(1000, burst=500, clock=c.now, sleep=c.sleep)
    b.consume(500)
    c.t += 100  # idle for a long time: only `burst` tokens accumulate
    b.consume(1500)
    assert c.slept == pytest.approx(1.0)


def test_bucket_is_shared_fairly_by_threads() -> None:
    b = TokenBucket(4_000_000, burst=200_000)  # real clock: 4 MB/s
    start = time.monotonic()

    def worker() -> None:
        for _ in range(5):
            b.consume(100_000)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    # 2 MB in total, 0.2 MB of burst: ~0.45 s at 4 MB/s. The lower bound is the throttle; the upper
    # one only says the threads were not starved (generous: CI machines are loaded).
    assert 0.35 < elapsed < 10


@pytest.mark.parametrize(("text", "rate"), [("50MiB", 50 * 1024**2), ("10MB/s", 10**7), ("1048576", 1048576),
                                            ("1.5GiB", int(1.5 * 1024**3)), ("800k", 800_000)])
def test_parse_rate(text: str, rate: int) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "10 parsecs", "0", "-5MB"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(BadInput):
        parse_rate(text)


def test_memory_budget_blocks_until_released() -> None:
    m = MemoryBudget(100)
    order: list[str] = []
    with m.reserve(80):
        t = threading.Thread(target=lambda: (m.reserve(50).__enter__(), order.append("second")))
        t.start()
        time.sleep(0.05)
        order.append("first-release")
    t.join(2)
    assert order == ["first-release", "second"]
    assert m.peak == 80
