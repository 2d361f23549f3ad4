"""What a report shows, built from a run's journal state (execution.state.RunState).

Reports never see secrets: the journal they are built from is already redacted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from dr_orchestrator.execution.state import RunState

FAILED_RUN_STATUSES = frozenset({"failed", "aborted", "interrupted", "running"})


@dataclass(frozen=True)
class StepRow:
    key: str
    service: str
    name: str
    kind: str
    status: str
    attempts: int
    start_s: float | None
    end_s: float | None
    error: str | None

    @property
    def duration_s(self) -> float | None:
        if self.start_s is None or self.end_s is None:
            return None
        return max(self.end_s - self.start_s, 0.0)


@dataclass(frozen=True)
class ServiceRow:
    name: str
    wave: int
    status: str
    rto_s: float | None
    recovery_s: float | None
    reason: str | None

    @property
    def rto_ok(self) -> bool | None:
        if self.rto_s is None:
            return None
        return self.recovery_s is not None and self.recovery_s <= self.rto_s


@dataclass(frozen=True)
class Objective:
    """One RTO or RPO objective and what the run achieved."""

    kind: str  # "RTO" | "RPO"
    subject: str  # service, data class, or "plan"
    target_s: float
    achieved_s: float | None  # None: not achieved at all (service never recovered, no snapshot)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.achieved_s is not None and self.achieved_s <= self.target_s

    @property
    def margin_s(self) -> float | None:
        """Positive: time to spare; negative: missed by this much."""
        return None if self.achieved_s is None else self.target_s - self.achieved_s


@dataclass
class Report:
    run_id: str
    action: str
    runbook: str
    started_at: str
    duration_s: float
    status: str
    rto_s: float | None
    services: list[ServiceRow]
    steps: list[StepRow]
    objectives: list[Objective]
    warnings: list[str] = field(default_factory=list)
    cleanup: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""

    @property
    def passed(self) -> bool:
        """Every step passed (or was deliberately skipped) and every objective held."""
        return (not self.failed_steps and all(o.ok for o in self.objectives)
                and self.status not in FAILED_RUN_STATUSES)

    @property
    def failed_steps(self) -> list[StepRow]:
        return [s for s in self.steps if s.status in ("failed", "interrupted", "rolled_back")]

    @property
    def missed(self) -> list[Objective]:
        return [o for o in self.objectives if not o.ok]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["passed"] = self.passed
        for row, src in zip(out["steps"], self.steps, strict=True):
            row["duration_s"] = src.duration_s
        for row, svc in zip(out["services"], self.services, strict=True):
            row["rto_ok"] = svc.rto_ok
        for row, obj in zip(out["objectives"], self.objectives, strict=True):
            row["ok"], row["margin_s"] = obj.ok, obj.margin_s
        return out


def build_report(state: RunState, *, rpo: list[Objective] | None = None,
                 cleanup: list[dict[str, Any]] | None = None, title: str = "") -> Report:
    """Fold a run's state into a report; RTO objectives come from the plan, RPO ones from the caller."""
    services = [ServiceRow(s.name, s.wave, s.status, s.rto_s, s.recovery_s, s.reason)
                for s in sorted(state.services.values(), key=lambda s: (s.wave, s.name))]
    steps = [StepRow(r.key, r.service, r.name, r.kind, r.status, r.attempts, r.started_t, r.ended_t, r.error)
             for r in state.steps.values()]
    steps.sort(key=lambda r: (r.start_s if r.start_s is not None else float("inf"), r.key))
    duration = max([state.last_t, *[s.end_s or 0.0 for s in steps]])
    objectives = [Objective("RTO", s.name, s.rto_s, s.recovery_s,
                            "recovered" if s.recovery_s is not None else f"not recovered ({s.status})")
                  for s in services if s.rto_s is not None]
    if state.rto_s is not None:
        all_ok = all(s.status in ("ok", "degraded", "skipped") for s in services)
        objectives.append(Objective("RTO", "plan", state.rto_s, duration if all_ok else None,
                                    "whole plan" if all_ok else "plan did not complete"))
    objectives.extend(rpo or [])
    started = dt.datetime.fromtimestamp(state.started_ts, dt.UTC).isoformat(timespec="seconds") \
        if state.started_ts else ""
    return Report(run_id=state.run_id, action=state.action, runbook=state.runbook, started_at=started,
                  duration_s=duration, status=state.status, rto_s=state.rto_s, services=services,
                  steps=steps, objectives=objectives, warnings=list(state.warnings),
                  cleanup=list(cleanup or []), title=title or f"dro {state.action} {state.run_id}")
