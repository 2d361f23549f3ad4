"""The scheduler with a controllable clock: cron timing, no overlap, catch-up, stop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dr_orchestrator.errors import BadInput
from dr_orchestrator.scheduling import cron
from dr_orchestrator.scheduling.clock import ManualClock
from dr_orchestrator.scheduling.daemon import Job, JobResult, Scheduler
from dr_orchestrator.scheduling.state import StateStore

T0 = datetime(2026, 11, 26, 5, 58, 30, tzinfo=UTC)


class Recorder:
    def __init__(self, clock: ManualClock, block: threading.Event | None = None) -> None:
        self.clock = clock
        self.block = block
        self.runs: list[datetime] = []
        self.done = threading.Semaphore(0)

    def __call__(self, stop: threading.Event) -> JobResult:
        self.runs.append(self.clock.now())
        if self.block is not None:
            while not self.block.wait(0.01):
                if stop.is_set():
                    self.done.release()
                    return JobResult(False, "stopped", abandoned=True)
        self.done.release()
        return JobResult(True, "done")


def make(tmp_path: Path, jobs: list[Job], clock: ManualClock, **kw) -> tuple[Scheduler, list[str]]:
    lines: list[str] = []
    s = Scheduler(jobs, state=StateStore(tmp_path / "state.json"), clock=clock, log=lines.append, **kw)
    return s, lines


def test_cron_helpers() -> None:
    assert cron.next_after("*/5 * * * *", T0) == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert cron.previous_at_or_before("0 * * * *", T0) == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    at = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    assert cron.previous_at_or_before("0 * * * *", at) == at
    assert cron.missed("0 * * * *", at - timedelta(hours=3), T0)
    assert not cron.missed("0 * * * *", at, T0)
    with pytest.raises(BadInput):
        cron.check("every day")


def test_runs_on_cron_times_in_the_loop(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    rec = Recorder(clock)
    s, lines = make(tmp_path, [Job("db", "*/5 * * * *", rec)], clock)
    t = threading.Thread(target=s.run)
    t.start()
    try:
        assert clock.wait_for_sleeper() == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
        assert rec.runs == []  # nothing before its time
        clock.set(datetime(2026, 11, 26, 6, 0, tzinfo=UTC))
        assert rec.done.acquire(timeout=5)
        assert s.wait_idle(5)  # the run has ended (and is recorded) before the next slot
        assert clock.wait_for_sleeper() == datetime(2026, 11, 26, 6, 5, tzinfo=UTC)
        clock.set(datetime(2026, 11, 26, 6, 5, 1, tzinfo=UTC))
        assert rec.done.acquire(timeout=5)
    finally:
        s.stop.set()
        t.join(5)
    assert rec.runs == [datetime(2026, 11, 26, 6, 0, tzinfo=UTC), datetime(2026, 11, 26, 6, 5, 1, tzinfo=UTC)]
    run_lines = [ln for ln in lines if " db: " in ln]
    assert len(run_lines) == 2 and all("ok (cron)" in ln for ln in run_lines)  # one line per run
    assert s.state.last_run("db") == datetime(2026, 11, 26, 6, 5, 1, tzinfo=UTC)


def test_never_overlaps_a_class_but_runs_others(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    release = threading.Event()
    slow, fast = Recorder(clock, block=release), Recorder(clock)
    s, lines = make(tmp_path, [Job("slow", "* * * * *", slow), Job("fast", "* * * * *", fast)], clock)
    for minute in range(1, 4):  # three slots while "slow" is still busy with the first
        clock.set(T0 + timedelta(minutes=minute))
        s.tick()
        assert fast.done.acquire(timeout=5)
        s.running["fast"].join(5)  # finished, state recorded
    assert len(slow.runs) == 1 and len(fast.runs) == 3
    assert s.skipped == ["slow", "slow"]
    assert sum("skipped" in ln for ln in lines) == 2
    release.set()
    assert s.wait_idle(5)
    clock.set(T0 + timedelta(minutes=4))
    s.tick()
    assert slow.done.acquire(timeout=5) and slow.done.acquire(timeout=5)
    assert len(slow.runs) == 2


def test_slots_missed_while_late_coalesce(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    rec = Recorder(clock)
    s, _ = make(tmp_path, [Job("db", "* * * * *", rec)], clock)
    clock.set(T0 + timedelta(minutes=10))
    assert s.tick() == ["db"] and s.tick() == []
    assert s.next_due["db"] == datetime(2026, 11, 26, 6, 9, tzinfo=UTC)


def test_catch_up_after_downtime_runs_once(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.json")
    state.record("db", last_run=datetime(2026, 11, 26, 1, 0, tzinfo=UTC), last_status="ok")
    state.record("fresh", last_run=datetime(2026, 11, 26, 5, 0, 5, tzinfo=UTC), last_status="ok")
    clock = ManualClock(T0)  # down from 01:00 to 05:58: four hourly slots missed
    db, fresh = Recorder(clock), Recorder(clock)
    lines: list[str] = []
    s = Scheduler([Job("db", "0 * * * *", db), Job("fresh", "0 * * * *", fresh)],
                  state=StateStore(tmp_path / "state.json"), clock=clock, log=lines.append)
    assert s.run_missed() == ["db"]
    assert db.done.acquire(timeout=5) and s.wait_idle(5)
    assert len(db.runs) == 1 and fresh.runs == []
    assert any("ok (catch-up)" in ln for ln in lines)
    # and the state on disk now says it ran: a restart does not catch up again
    s2 = Scheduler([Job("db", "0 * * * *", db)], state=StateStore(tmp_path / "state.json"), clock=clock)
    assert s2.run_missed() == []


def test_abandoned_run_is_caught_up_next_start(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    block = threading.Event()
    rec = Recorder(clock, block=block)
    state = StateStore(tmp_path / "state.json")
    state.record("db", last_run=datetime(2026, 11, 26, 5, 0, 1, tzinfo=UTC))
    s = Scheduler([Job("db", "0 * * * *", rec)], state=state, clock=clock, log=lambda _: None)
    clock.set(datetime(2026, 11, 26, 6, 0, tzinfo=UTC))
    s.tick()
    s.shutdown()  # stop while the job is in flight: it abandons cleanly
    assert rec.done.acquire(timeout=5)
    reloaded = StateStore(tmp_path / "state.json")
    assert reloaded.get("db")["last_status"] == "abandoned"
    assert cron.missed("0 * * * *", reloaded.last_run("db"), clock.now())


def test_stop_ends_the_loop_and_waits_for_running_jobs(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    block = threading.Event()
    rec = Recorder(clock, block=block)
    s, lines = make(tmp_path, [Job("db", "* * * * *", rec)], clock)
    t = threading.Thread(target=s.run)
    t.start()
    clock.wait_for_sleeper()
    clock.set(datetime(2026, 11, 26, 5, 59, tzinfo=UTC))
    for _ in range(500):
        if rec.runs:
            break
        threading.Event().wait(0.01)
    s.stop.set()
    t.join(5)
    assert not t.is_alive()
    assert any("abandoned" in ln for ln in lines) and lines[-1].endswith("schedule stopped")


def test_a_failing_job_is_logged_and_recorded(tmp_path: Path) -> None:
    clock = ManualClock(T0)

    def boom(stop: threading.Event) -> JobResult:
        raise RuntimeError("disk on fire")

    s, lines = make(tmp_path, [Job("db", "* * * * *", boom)], clock)
    clock.set(T0 + timedelta(minutes=1))
    s.tick()
    assert s.wait_idle(5)
    assert s.state.get("db")["last_status"] == "failed"
    assert any("failed (cron)" in ln and "disk on fire" in ln for ln in lines)


def test_state_file_survives_garbage(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    p.write_text("{not json")
    st = StateStore(p)
    assert st.warning and st.last_run("db") is None
    st.record("db", last_run=T0)
    assert StateStore(p).last_run("db") == T0
