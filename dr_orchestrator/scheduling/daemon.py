"""The scheduler behind `dro schedule run`: one job per data class on its cron schedule.

- Each due job runs in its own thread; a job never overlaps itself: a slot that comes
  while the previous run is still going is skipped (and logged) — like Kubernetes'
  `concurrencyPolicy: Forbid`. Several slots missed while late are coalesced into one.
- Catch-up: on start, a job whose last completed run is older than its latest fire
  time (the machine was down) runs once, immediately.
- Last runs are remembered in a StateStore; a run is recorded when it *ends*, so a run
  killed half-way is caught up on the next start.
- Stop (SIGTERM → `stop` event): no new runs start; running jobs get the same event
  (replication abandons cleanly between objects, nothing partial is ever written) and
  are waited for up to `grace` seconds.
- One log line per run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dr_orchestrator.scheduling import cron
from dr_orchestrator.scheduling.clock import Clock, SystemClock
from dr_orchestrator.scheduling.state import StateStore


@dataclass(frozen=True)
class JobResult:
    ok: bool
    summary: str = ""
    abandoned: bool = False  # stopped before finishing; not recorded as a completed run


@dataclass(frozen=True)
class Job:
    name: str
    schedule: str
    run: Callable[[threading.Event], JobResult]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduler:
    def __init__(self, jobs: list[Job], *, state: StateStore, clock: Clock | None = None,
                 log: Callable[[str], None] = print, catch_up: bool = True,
                 stop: threading.Event | None = None, grace: float | None = None) -> None:
        for job in jobs:
            cron.check(job.schedule)
        self.jobs = {j.name: j for j in jobs}
        self.state = state
        self.clock = clock or SystemClock()
        self.log = log
        self.catch_up = catch_up
        self.stop = stop or threading.Event()
        self.grace = grace
        self.running: dict[str, threading.Thread] = {}
        self.started: list[tuple[str, str]] = []  # (job, reason), for tests and status
        self.skipped: list[str] = []
        self._lock = threading.Lock()
        now = self.clock.now()
        self.next_due = {j.name: cron.next_after(j.schedule, now) for j in jobs}

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        if self.state.warning:
            self.log(f"{_iso(self.clock.now())} schedule warning: {self.state.warning}")
        self.log(f"{_iso(self.clock.now())} schedule started: " + ", ".join(
            f"{n} ({j.schedule}, next {_iso(self.next_due[n])})" for n, j in sorted(self.jobs.items())))
        if self.catch_up:
            self.run_missed()
        while not self.stop.is_set() and self.jobs:
            due = min(self.next_due.values())
            if not self.clock.wait_until(due, self.stop):
                break
            self.tick()
        self.shutdown()

    def run_missed(self) -> list[str]:
        now = self.clock.now()
        names = [n for n, j in sorted(self.jobs.items()) if cron.missed(j.schedule, self.state.last_run(n), now)]
        for name in names:
            self.launch(name, "catch-up")
        return names

    def tick(self) -> list[str]:
        """Start every job that is due now; returns the names started."""
        now = self.clock.now()
        fired = []
        for name, job in sorted(self.jobs.items()):
            if self.next_due[name] <= now:
                # Next slot after *now*: slots missed while we were late coalesce into this run.
                self.next_due[name] = cron.next_after(job.schedule, now)
                if self.launch(name, "cron"):
                    fired.append(name)
        return fired

    def launch(self, name: str, reason: str) -> bool:
        with self._lock:
            if self.stop.is_set():
                return False
            current = self.running.get(name)
            if current is not None and current.is_alive():
                self.skipped.append(name)
                self.log(f"{_iso(self.clock.now())} {name}: skipped ({reason}): the previous run is still going")
                return False
            t = threading.Thread(target=self._execute, args=(name, reason), name=f"dro-job-{name}", daemon=True)
            self.running[name] = t
            self.started.append((name, reason))
            t.start()
            return True

    def _execute(self, name: str, reason: str) -> None:
        job = self.jobs[name]
        start = self.clock.now()
        try:
            result = job.run(self.stop)
        except Exception as exc:  # one failing class must not stop the others' schedule
            result = JobResult(False, f"error: {type(exc).__name__}: {getattr(exc, 'message', exc)}")
        end = self.clock.now()
        seconds = (end - start).total_seconds()
        status = "abandoned" if result.abandoned else ("ok" if result.ok else "failed")
        if result.abandoned:
            self.state.record(name, last_status=status, last_attempt=start)
        else:
            self.state.record(name, last_run=start, last_status=status, last_duration_s=round(seconds, 3),
                              last_summary=result.summary, **({"last_success": start} if result.ok else {}))
        self.log(f"{_iso(start)} {name}: {status} ({reason}) in {seconds:.1f}s"
                 + (f" — {result.summary}" if result.summary else ""))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the running jobs; True when none is left running."""
        for t in list(self.running.values()):
            t.join(timeout)
        return not any(t.is_alive() for t in self.running.values())

    def shutdown(self) -> None:
        self.stop.set()
        busy = sorted(n for n, t in self.running.items() if t.is_alive())
        if busy:
            self.log(f"{_iso(self.clock.now())} schedule stopping: waiting for {', '.join(busy)}")
        idle = self.wait_idle(self.grace)
        self.log(f"{_iso(self.clock.now())} schedule stopped" + ("" if idle else " (runs abandoned after grace)"))
