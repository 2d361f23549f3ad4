"""A run's state folded from its journal events: live, on resume and in `dro show`.

Timing rules (docs/execution.md):
- a step's duration runs from its first attempt's start to its final outcome
  (retries and backoff included);
- a service's recovery time runs from the start of the run to the end of its last
  step (its last check) — that is what its RTO is compared against;
- the run's duration is compared against the runbook's RTO;
- the achieved RPO of a service is the age, at run start, of the oldest snapshot
  one of its restore steps restored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dr_orchestrator.execution.events import Event

# Step statuses
PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
ROLLED_BACK, INTERRUPTED, SKIPPED = "rolled_back", "interrupted", "skipped"
# Service statuses (plus PENDING/RUNNING/SKIPPED/ROLLED_BACK)
OK, DEGRADED, SVC_FAILED = "ok", "degraded", "failed"


@dataclass
class StepRecord:
    key: str
    service: str
    name: str
    kind: str
    on_failure: str = "abort"
    status: str = PENDING
    attempts: int = 0
    started_t: float | None = None
    ended_t: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    output_lines: int = 0
    processes: list[dict[str, Any]] = field(default_factory=list)  # local process groups it started

    @property
    def duration_s(self) -> float | None:
        if self.started_t is None or self.ended_t is None:
            return None
        return max(self.ended_t - self.started_t, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "service": self.service, "name": self.name, "kind": self.kind,
                "status": self.status, "attempts": self.attempts, "start_s": self.started_t,
                "end_s": self.ended_t, "duration_s": self.duration_s, "error": self.error,
                "details": self.details}


@dataclass
class ServiceRecord:
    name: str
    wave: int = 0
    rto_s: float | None = None
    steps: list[str] = field(default_factory=list)
    status: str = PENDING
    started_t: float | None = None
    finished_t: float | None = None
    reason: str | None = None

    @property
    def recovery_s(self) -> float | None:
        """Run start → the service's last step done (only for a recovered service)."""
        return self.finished_t if self.status in (OK, DEGRADED) else None


@dataclass
class RunState:
    run_id: str = ""
    action: str = ""
    runbook: str = ""
    plan_hash: str = ""
    started_ts: float = 0.0
    rto_s: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    finished: bool = False
    status: str = RUNNING
    last_t: float = 0.0
    resumes: int = 0
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_events(cls, events: list[Event]) -> RunState:
        state = cls()
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: Event) -> None:
        self.last_t = max(self.last_t, event.t)
        handler = getattr(self, "_on_" + event.type, None)
        if handler is not None:
            handler(event)

    # --- reducers --------------------------------------------------------------

    def _on_run_started(self, e: Event) -> None:
        d = e.data
        self.run_id, self.action = d.get("run_id", ""), d.get("action", "")
        self.runbook, self.plan_hash = d.get("runbook", ""), d.get("plan_hash", "")
        self.started_ts, self.rto_s = e.ts, d.get("rto_s")
        self.options = dict(d.get("options") or {})
        for svc in d.get("services", []):
            rec = ServiceRecord(name=svc["name"], wave=svc.get("wave", 0), rto_s=svc.get("rto_s"))
            for st in svc.get("steps", []):
                rec.steps.append(st["key"])
                self.steps[st["key"]] = StepRecord(
                    key=st["key"], service=svc["name"], name=st["name"], kind=st["kind"],
                    on_failure=st.get("on_failure", "abort"))
            self.services[rec.name] = rec

    def _on_run_resumed(self, e: Event) -> None:
        self.resumes += 1
        self.finished = False
        self.status = RUNNING

    def _on_run_finished(self, e: Event) -> None:
        self.finished = True
        self.status = e.data.get("status", "finished")

    def _on_service_started(self, e: Event) -> None:
        rec = self.services.get(e.service or "")
        if rec:
            rec.status = RUNNING
            if rec.started_t is None:
                rec.started_t = e.t

    def _on_service_finished(self, e: Event) -> None:
        rec = self.services.get(e.service or "")
        if rec:
            rec.status = e.data.get("status", OK)
            rec.finished_t = e.t
            rec.reason = e.data.get("reason")

    def _on_service_skipped(self, e: Event) -> None:
        rec = self.services.get(e.service or "")
        if rec:
            rec.status, rec.reason = SKIPPED, e.data.get("reason")
            for key in rec.steps:
                if self.steps[key].status == PENDING:
                    self.steps[key].status = SKIPPED

    def _step(self, e: Event) -> StepRecord | None:
        return self.steps.get(e.step or "")

    def _on_step_started(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.status = RUNNING
            rec.attempts = int(e.data.get("attempt", rec.attempts + 1))
            if rec.started_t is None or rec.ended_t is not None:
                rec.started_t, rec.ended_t, rec.error = e.t, None, None

    def _on_step_output(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.output_lines += 1

    def _on_step_process(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.processes.append({k: e.data.get(k) for k in ("pgid", "started", "host")})

    def _on_step_retried(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.error = e.data.get("error")

    def _on_step_succeeded(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.status, rec.ended_t, rec.error = SUCCEEDED, e.t, None
            rec.details = dict(e.data.get("details") or {})

    def _on_step_failed(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.status, rec.ended_t, rec.error = FAILED, e.t, e.data.get("error")

    def _on_step_interrupted(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.status, rec.ended_t = INTERRUPTED, e.t
            rec.error = "interrupted: the process running it died"

    def _on_step_rolled_back(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.status = ROLLED_BACK

    def _on_step_rollback_failed(self, e: Event) -> None:
        rec = self._step(e)
        if rec:
            rec.error = f"rollback failed: {e.data.get('error')}"

    def _on_warning(self, e: Event) -> None:
        self.warnings.append(str(e.data.get("message", "")))

    # --- queries -------------------------------------------------------------------

    def completed(self) -> set[str]:
        return {k for k, s in self.steps.items() if s.status == SUCCEEDED}

    def in_flight(self) -> list[str]:
        return [k for k, s in self.steps.items() if s.status in (RUNNING, INTERRUPTED)]

    def failed_steps(self) -> list[StepRecord]:
        return [s for s in self.steps.values() if s.status in (FAILED, INTERRUPTED)]

    def rpo_s(self, service: str) -> float | None:
        ages = [float(s.details["snapshot_age_s"]) for k in self.services[service].steps
                if (s := self.steps[k]).status == SUCCEEDED and "snapshot_age_s" in s.details]
        return max(ages) if ages else None

    def duration_s(self) -> float:
        return self.last_t

    def rto_ok(self) -> bool | None:
        return None if self.rto_s is None else self.duration_s() <= self.rto_s

    def service_rto_ok(self, name: str) -> bool | None:
        rec = self.services[name]
        if rec.rto_s is None:
            return None
        rec_s = rec.recovery_s
        return rec_s is not None and rec_s <= rec.rto_s

    def ok(self) -> bool:
        """No failed step, every service recovered, every RTO held."""
        if self.failed_steps():
            return False
        if any(s.status not in (OK,) for s in self.services.values()):
            return False
        if any(self.service_rto_ok(n) is False for n in self.services):
            return False
        return self.rto_ok() is not False

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "action": self.action, "runbook": self.runbook,
            "plan_hash": self.plan_hash, "started": self.started_ts, "finished": self.finished,
            "status": self.status, "ok": self.ok(), "duration_s": round(self.duration_s(), 3),
            "rto_s": self.rto_s, "rto_ok": self.rto_ok(), "resumes": self.resumes,
            "services": [
                {"name": s.name, "wave": s.wave, "status": s.status, "reason": s.reason,
                 "recovery_s": None if s.recovery_s is None else round(s.recovery_s, 3),
                 "rto_s": s.rto_s, "rto_ok": self.service_rto_ok(s.name), "rpo_s": self.rpo_s(s.name),
                 "steps": [self.steps[k].to_dict() for k in s.steps]}
                for s in self.services.values()
            ],
            "warnings": list(self.warnings),
        }
