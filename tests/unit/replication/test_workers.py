"""run_parallel: every item once, stop honoured, errors raised after the others finished; in_background."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from dr_orchestrator.replication.workers import in_background, interleaved, run_parallel


@pytest.mark.parametrize("workers,chunk", [(1, 1), (4, 1), (8, 8), (3, 5)])
def test_every_item_exactly_once(workers: int, chunk: int) -> None:
    got = list(run_parallel(range(1000), lambda i: i * 2, workers, chunk=chunk))
    assert sorted(got) == [i * 2 for i in range(1000)]


def test_stop_starts_no_more_items() -> None:
    stop = threading.Event()
    started: list[int] = []

    def fn(i: int) -> int:
        started.append(i)
        if i == 5:
            stop.set()
        return i

    list(run_parallel(range(1000), fn, 1, stop, chunk=4))
    assert started == list(range(6))


def test_an_error_is_raised_after_the_running_items_finished() -> None:
    finished: list[int] = []

    def fn(i: int) -> int:
        if i == 3:
            raise ValueError("boom")
        time.sleep(0.01)
        finished.append(i)
        return i

    with pytest.raises(ValueError, match="boom"):
        list(run_parallel(range(100), fn, 4))
    n = len(finished)
    time.sleep(0.05)
    assert len(finished) == n < 100  # nothing runs on after the raise


def test_leaving_the_loop_early_stops_the_threads() -> None:
    done: list[int] = []

    def fn(i: int) -> int:
        time.sleep(0.002)
        done.append(i)
        return i

    for value in run_parallel(range(10_000), fn, 4):
        if value >= 0:
            break
    n = len(done)
    time.sleep(0.05)
    assert len(done) == n < 100
    assert not [t for t in threading.enumerate() if t.name.startswith("dro-xfer")]


def test_in_background_runs_on_another_thread_and_hands_back_its_error() -> None:
    seen: list[str] = []
    done = in_background(lambda: seen.append(threading.current_thread().name), "dro-test")
    done()
    assert seen == ["dro-test"]

    def fails() -> None:
        raise OSError("syncfs failed")
    with pytest.raises(OSError, match="syncfs failed"):
        in_background(fails)()


def test_interleaved_yields_every_item_of_both_once() -> None:
    def slow(n: int) -> Iterator[str]:
        for i in range(n):
            time.sleep(0.001)
            yield f"s{i}"
    got = list(interleaved((f"p{i}" for i in range(500)), slow(50)))
    assert sorted(got) == sorted([f"p{i}" for i in range(500)] + [f"s{i}" for i in range(50)])
    assert got.index("s0") < len(got) - 1  # the secondary's items come while the primary runs
    assert not [t for t in threading.enumerate() if t.name.startswith("dro-drain")]


@pytest.mark.parametrize("which", ["primary", "secondary"])
def test_interleaved_raises_an_error_of_either(which: str) -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise OSError(f"{which} failed")
    def fine() -> Iterator[int]:
        for i in range(3):
            time.sleep(0.01)
            yield i
    primary, secondary = (failing(), fine()) if which == "primary" else (fine(), failing())
    with pytest.raises(OSError, match=f"{which} failed"):
        list(interleaved(primary, secondary))
    assert not [t for t in threading.enumerate() if t.name.startswith("dro-drain")]
    assert primary.gi_frame is None  # closed, whichever failed: no work goes on unobserved


def test_leaving_interleaved_early_stops_the_secondary() -> None:
    taken: list[int] = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            taken.append(i)
            time.sleep(0.001)
            yield i
            i += 1
    for _ in interleaved(iter(range(10_000)), endless()):
        break
    n = len(taken)
    time.sleep(0.05)
    assert len(taken) == n
    assert not [t for t in threading.enumerate() if t.name.startswith("dro-drain")]
