"""`wait`: pause for a fixed duration (DNS TTLs, replication catch-up)."""

from __future__ import annotations

from typing import Any

from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepOutput, seconds, spec_get
from dr_orchestrator.planning.model import PlannedStep


class WaitHandler(BaseHandler):
    kind = "wait"

    def describe(self, step: PlannedStep, run: Any) -> str:
        return f"wait {seconds(spec_get(step.spec, 'duration'), 0.0):g}s"

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        duration = seconds(spec_get(step.spec, "duration"), 0.0) or 0.0
        ctx.sleep(duration)
        return StepOutput({"waited_s": duration})


HANDLER = WaitHandler()
