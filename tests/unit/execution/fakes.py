"""Fake step handlers and plan builders for executor unit tests (pure logic, fake clock)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import StepFailed
from dr_orchestrator.execution.clock import FakeClock
from dr_orchestrator.execution.context import RunContext
from dr_orchestrator.execution.executor import Executor
from dr_orchestrator.execution.journal import Journal
from dr_orchestrator.execution.resume import plan_hash
from dr_orchestrator.execution.steps import Registry
from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepOutput
from dr_orchestrator.planning.inputs import PlanInput, ServiceInput
from dr_orchestrator.planning.model import Plan, PlannedStep
from dr_orchestrator.planning.planner import plan_from_input


class Crash(BaseException):
    """Stands in for the process dying mid-step."""


class FakeHandler(BaseHandler):
    """Behaviour comes from the step's spec dict:
    duration (fake seconds, cooperative), advance (fake seconds, NOT cooperative),
    fail_times (fail the first N attempts), fail (always), hold (real seconds, to
    observe concurrency), crash_on_call (raise Crash on the Nth call of this step).
    """

    kind = "fake"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []  # step keys in call order
        self.rollbacks: list[str] = []
        self.active = 0
        self.max_active = 0
        self.attempts: dict[str, int] = {}

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        spec: dict[str, Any] = step.spec
        with self.lock:
            self.calls.append(step.key)
            n = self.attempts[step.key] = self.attempts.get(step.key, 0) + 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if spec.get("hold"):
                time.sleep(spec["hold"])
            if spec.get("crash_on_call") == n:
                raise Crash()
            if spec.get("duration"):
                ctx.sleep(spec["duration"])
            if spec.get("advance"):
                ctx.run.clock.advance(spec["advance"])  # type: ignore[attr-defined]
            if spec.get("print"):
                ctx.output(str(spec["print"]))
            for i in range(spec.get("print_lines", 0)):
                ctx.output(f"line {i} " + "x" * 600)
            if spec.get("fail") or n <= spec.get("fail_times", 0):
                raise StepFailed(f"{step.name} failed (attempt {n})")
            return StepOutput(dict(spec.get("details", {})))
        finally:
            with self.lock:
                self.active -= 1

    def rollback(self, step: PlannedStep, ctx: StepContext) -> bool:
        with self.lock:
            self.rollbacks.append(step.key)
        return True


def fake_step(service: str, index: int, name: str, **spec: Any) -> PlannedStep:
    spec.setdefault("kind", "fake")
    return PlannedStep(service=service, index=index, name=name, kind=spec["kind"],
                       estimate_s=float(spec.get("duration", 1.0)),
                       timeout_s=spec.get("timeout"), retries=spec.get("retries", 0),
                       on_failure=spec.get("on_failure", "abort"), spec=spec)


def make_plan(services: dict[str, list[dict[str, Any]]], deps: dict[str, list[str]] | None = None,
              rto: dict[str, float] | None = None, runbook_rto: float | None = None,
              action: str = "failover") -> Plan:
    deps, rto = deps or {}, rto or {}
    inputs = {}
    for name, steps in services.items():
        planned = tuple(fake_step(name, i, s.pop("name", f"s{i}"), **s) for i, s in enumerate(steps))
        inputs[name] = ServiceInput(name=name, depends_on=tuple(deps.get(name, ())), steps=planned,
                                    rto_s=rto.get(name))
    return plan_from_input(PlanInput(services=inputs, rto_s=runbook_rto), action)


class Harness:
    """Plan + fake clock + fake handler + a journal in tmp_path."""

    def __init__(self, tmp_path: Path, plan: Plan, parallel: int = 4, fsync: bool = False) -> None:
        self.plan = plan
        self.clock = FakeClock()
        self.handler = FakeHandler()
        self.registry = Registry({"fake": self.handler})
        self.run_dir = tmp_path / "runs" / "r1"
        self.parallel = parallel
        self.fsync = fsync

    def context(self) -> RunContext:
        return RunContext(action=self.plan.action, run_id="r1", clock=self.clock, run_dir=self.run_dir,
                          started_wall=self.clock.wall())

    def run(self) -> Any:
        journal = Journal(self.run_dir / "journal.jsonl", self.clock, fsync=self.fsync)
        ex = Executor(self.plan, self.context(), journal, self.registry, self.parallel)
        ex.start(runbook="fake.yaml", plan_hash=plan_hash(self.plan))
        try:
            return ex.execute()
        finally:
            journal.close()
