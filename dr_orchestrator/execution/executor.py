"""The executor: waves in order, services of a wave in parallel, steps in order.

Policies, per step (from the runbook): `timeout` (cooperative deadline plus a
watchdog), `retries` with exponential backoff from `retry_delay`, and `on_failure`:
- abort: no new step starts anywhere; running services stop after their current
  step; services not started are skipped;
- continue: the failure is recorded (the run fails) and the service goes on;
- rollback: the service's completed steps are undone in reverse order (the step's
  own `rollback` steps, else its handler's `rollback`), the service ends
  `rolled_back`, its dependents are skipped, other services go on.

Every outcome is a journal event emitted in a `finally`, so timing and status
survive any failure; the run's state is the fold of those events (state.py), which
is also how `dro resume` knows what is done.
"""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from dr_orchestrator.errors import BadInput, StepTimeout
from dr_orchestrator.execution import events as ev
from dr_orchestrator.execution import state as st
from dr_orchestrator.execution.clock import WatchdogExpired
from dr_orchestrator.execution.context import RunContext
from dr_orchestrator.execution.journal import Journal
from dr_orchestrator.execution.state import RunState
from dr_orchestrator.execution.steps import Registry, default_registry
from dr_orchestrator.execution.steps.base import NotRetryable, StepContext, seconds, spec_get
from dr_orchestrator.execution.steps.procs import kill_orphan_group
from dr_orchestrator.planning.model import Plan, PlannedStep

MAX_BACKOFF_S = 300.0
WATCHDOG_GRACE_S = 5.0  # a cooperative handler gets this long past its deadline to stop
DEFAULT_RETRY_DELAY_S = 10.0
ABORTED = "aborted"


def retryable(error: BaseException) -> bool:
    return not isinstance(error, BadInput | NotRetryable)


def plan_metadata(plan: Plan) -> list[dict[str, Any]]:
    """The plan as recorded in the run_started event (what resume checks against)."""
    return [
        {"name": sp.name, "wave": sp.wave, "rto_s": sp.rto_s,
         "steps": [{"key": s.key, "name": s.name, "kind": s.kind, "on_failure": s.on_failure}
                   for s in sp.steps]}
        for sp in plan.ordered_services()
    ]


class Executor:
    def __init__(self, plan: Plan, run: RunContext, journal: Journal,
                 registry: Registry | None = None, parallel: int = 4,
                 state: RunState | None = None) -> None:
        self.plan = plan
        self.run = run
        self.journal = journal
        self.registry = registry or default_registry()
        self.parallel = max(1, parallel)
        self.state = state or RunState()
        self.clock = run.clock
        self._abort = threading.Event()
        self._interrupt = threading.Event()  # Ctrl-C: stop without closing anything
        self._abort_reason: str | None = None
        journal.listeners.insert(0, self.state.apply)
        run.emit = journal.emit
        run.registry = self.registry
        failed = [s.name for s in self.state.services.values() if s.status in (st.SVC_FAILED, ABORTED)]
        if failed:  # resuming a run that was aborting: finish the abort, start nothing new
            self.abort(f"service {failed[0]} failed before the run was interrupted")

    # --- the run ---------------------------------------------------------------------

    def start(self, **meta: Any) -> None:
        """Emit run_started (a fresh run); `meta` carries runbook, plan_hash, options."""
        self.journal.emit(ev.RUN_STARTED, run_id=self.run.run_id, action=self.plan.action,
                          rto_s=self.plan.rto_s, services=plan_metadata(self.plan), **meta)

    def execute(self) -> RunState:
        """Run every wave. A crash or Ctrl-C leaves no run_finished: `dro resume` continues."""
        try:
            for wave in self.plan.waves:
                names = list(wave.services)
                if len(names) <= 1 or self.parallel == 1:
                    for name in names:
                        self._service(name)
                    continue
                with ThreadPoolExecutor(max_workers=min(self.parallel, len(names)),
                                        thread_name_prefix=f"dro-wave{wave.index}") as pool:
                    futures = [pool.submit(self._service, name) for name in names]
                    try:
                        for future in futures:
                            future.result()
                    except BaseException:
                        self._interrupt.set()  # other services stop at their next step, resumable
                        raise
        except BaseException:
            self._interrupt.set()
            raise
        ok = self.state.ok()
        self.journal.emit(ev.RUN_FINISHED, status="ok" if ok else "failed", ok=ok,
                          reason=self._abort_reason)
        return self.state

    def abort(self, reason: str) -> None:
        if not self._abort.is_set():
            self._abort_reason = reason
            self._abort.set()

    # --- one service -----------------------------------------------------------------

    def _service(self, name: str) -> None:
        sp = self.plan.services[name]
        rec = self.state.services[name]
        if rec.status not in (st.PENDING, st.RUNNING):
            return  # finished before a resume
        if self._abort.is_set() and rec.status == st.PENDING:  # a resumed RUNNING one closes below
            self.journal.emit(ev.SERVICE_SKIPPED, service=name, reason=f"run aborted: {self._abort_reason}")
            return
        blocked = [d for d in sp.depends_on if d in self.state.services
                   and self.state.services[d].status not in (st.OK, st.DEGRADED)]
        if blocked:
            self.journal.emit(ev.SERVICE_SKIPPED, service=name,
                              reason=f"dependency not recovered: {', '.join(blocked)}")
            return
        self.journal.emit(ev.SERVICE_STARTED, service=name)
        if any(self.state.steps[s.key].status == st.ROLLED_BACK for s in sp.steps):
            # interrupted in the middle of a rollback: finish undoing, never redo
            rest = [s for s in sp.steps if self.state.steps[s.key].status == st.SUCCEEDED]
            self._rollback(name, rest)
            self.journal.emit(ev.SERVICE_FINISHED, service=name, status=st.ROLLED_BACK,
                              reason="rollback finished after an interruption")
            return
        done: list[PlannedStep] = []
        degraded = False
        outcome: str | None = st.OK
        reason: str | None = None
        try:
            for step in sp.steps:
                srec = self.state.steps[step.key]
                if srec.status == st.SUCCEEDED:
                    done.append(step)
                    continue
                if srec.status == st.FAILED and step.on_failure == "continue":
                    degraded = True  # already failed and tolerated before a resume
                    continue
                if srec.status in (st.RUNNING, st.INTERRUPTED):  # in flight when the run stopped
                    if srec.status == st.RUNNING:  # killed: nothing recorded its end
                        self.journal.emit(ev.STEP_INTERRUPTED, step=step.key, service=name,
                                          attempt=srec.attempts)
                        self._reap(srec)
                    if step.on_failure == "rollback":
                        self._rollback(name, [*done, step])
                        outcome, reason = st.ROLLED_BACK, f"step {step.name!r} was interrupted"
                        return
                if self._interrupt.is_set():
                    outcome = None  # left open: `dro resume` continues this service
                    return
                if self._abort.is_set():
                    outcome, reason = ABORTED, f"run aborted: {self._abort_reason}"
                    return
                if self._step(step):
                    done.append(step)
                    continue
                if step.on_failure == "continue":
                    degraded = True
                    continue
                if step.on_failure == "rollback":
                    self._rollback(name, done)
                    outcome, reason = st.ROLLED_BACK, f"step {step.name!r} failed"
                    return
                self.abort(f"step {step.key} failed")
                outcome, reason = st.SVC_FAILED, f"step {step.name!r} failed"
                return
            if degraded:
                outcome = st.DEGRADED
        except BaseException:
            outcome = None  # interrupted: the service stays open for `dro resume`
            raise
        finally:
            if outcome is not None:
                self.journal.emit(ev.SERVICE_FINISHED, service=name, status=outcome, reason=reason)

    def _reap(self, srec: st.StepRecord) -> None:
        """Kill what a killed run's in-flight step left running here, before redoing it."""
        here = socket.gethostname()
        for proc in srec.processes:
            if proc.get("host") == here and proc.get("pgid") and \
                    kill_orphan_group(int(proc["pgid"]), proc.get("started")):
                self.journal.emit(ev.WARNING, message=f"killed process group {proc['pgid']} left "
                                                      f"running by interrupted step {srec.key}")

    # --- one step --------------------------------------------------------------------

    def _step(self, step: PlannedStep) -> bool:
        handler = self.registry.get(step.kind)
        attempts = step.retries + 1
        delay = seconds(spec_get(step.spec, "retry_delay"), DEFAULT_RETRY_DELAY_S) or 0.0
        for attempt in range(1, attempts + 1):
            self.journal.emit(ev.STEP_STARTED, step=step.key, service=step.service,
                              kind=step.kind, attempt=attempt, sync=step.on_failure == "rollback")
            outcome: str | None = None
            error: BaseException | None = None
            details: dict[str, Any] = {}
            try:
                details = self._attempt(handler, step, attempt)
                outcome = "ok"
            except Exception as exc:  # a handler's failure is data, not a crash
                error = exc
                outcome = "retry" if attempt < attempts and retryable(exc) else "failed"
            finally:
                # Recorded whatever happened (a BaseException leaves outcome None).
                if outcome == "ok":
                    self.journal.emit(ev.STEP_SUCCEEDED, step=step.key, service=step.service,
                                      attempt=attempt, details=details)
                elif outcome == "retry":
                    wait = min(delay * (2 ** (attempt - 1)), MAX_BACKOFF_S)
                    self.journal.emit(ev.STEP_RETRIED, step=step.key, service=step.service,
                                      attempt=attempt, error=self._message(error), delay_s=wait)
                elif outcome == "failed":
                    self.journal.emit(ev.STEP_FAILED, step=step.key, service=step.service,
                                      attempt=attempt, error=self._message(error),
                                      timeout=isinstance(error, StepTimeout))
                else:  # Ctrl-C / SystemExit mid-step: in flight for `dro resume`
                    self.journal.emit(ev.STEP_INTERRUPTED, step=step.key, service=step.service,
                                      attempt=attempt)
            if outcome == "ok":
                return True
            if outcome == "failed":
                return False
            self.clock.sleep(min(delay * (2 ** (attempt - 1)), MAX_BACKOFF_S))
        return False

    def _attempt(self, handler: Any, step: PlannedStep, attempt: int) -> dict[str, Any]:
        timeout = step.timeout_s
        start = self.clock.monotonic()
        deadline = start + timeout if timeout is not None else None
        ctx = StepContext(self.run, step, attempt, deadline, host_override=self.run.rebuild_host)
        try:
            out = self.clock.run_with_timeout(
                lambda: handler.run(step, ctx),
                None if timeout is None else timeout + WATCHDOG_GRACE_S)
        except WatchdogExpired:
            ctx.cancel.set()
            raise StepTimeout(f"step {step.name!r} did not finish within its timeout "
                              f"of {timeout:g}s") from None
        if deadline is not None and self.clock.monotonic() > deadline:
            raise StepTimeout(f"step {step.name!r} ran past its timeout of {timeout:g}s")
        return dict(getattr(out, "details", None) or {})

    def _message(self, error: BaseException | None) -> str | None:
        if error is None:
            return None
        text = str(error) or type(error).__name__
        return self.run.redactor.redact(text)

    # --- rollback --------------------------------------------------------------------

    def _rollback(self, service: str, done: list[PlannedStep]) -> None:
        for step in reversed(done):
            try:
                how = self.undo(step)
            except Exception as exc:  # keep undoing the rest: a partial rollback beats none
                self.journal.emit(ev.STEP_ROLLBACK_FAILED, step=step.key, service=service,
                                  error=self._message(exc))
                continue
            self.journal.emit(ev.STEP_ROLLED_BACK, step=step.key, service=service, how=how)

    def undo(self, step: PlannedStep) -> str:
        """Undo one completed step: its rollback steps, else its handler. Returns how."""
        timeout = step.timeout_s
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        ctx = StepContext(self.run, step, 0, deadline, host_override=self.run.rebuild_host)
        rollback_steps = spec_get(step.spec, "rollback") or []
        if rollback_steps:
            for index, spec in enumerate(rollback_steps):
                sub = substep(step, spec, f"rollback{index}")
                self.registry.get(sub.kind).run(sub, StepContext(
                    self.run, sub, 1, deadline, ctx.cancel, self.run.rebuild_host))
            return "steps"
        handler = self.registry.get(step.kind)
        return "handler" if handler.rollback(step, ctx) else "nothing to undo"


def substep(parent: PlannedStep, spec: Any, suffix: str) -> PlannedStep:
    """A PlannedStep for a step nested in another (rollback steps, playbook steps)."""
    label = getattr(spec, "label", None)
    name = label() if callable(label) else (spec_get(spec, "name") or spec_get(spec, "kind"))
    return replace(parent, name=f"{parent.name}:{suffix}:{name}", kind=str(spec_get(spec, "kind")),
                   spec=spec, timeout_s=seconds(spec_get(spec, "timeout"), parent.timeout_s))
