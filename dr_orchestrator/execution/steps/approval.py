"""`approval`: a person confirms before the run goes on (e.g. before DNS cut-over).

Interactive prompt on a terminal; `--auto-approve` for CI. Without a terminal and
without --auto-approve the step fails at once (never hangs waiting for input) and is
not retried.
"""

from __future__ import annotations

import threading
from typing import Any

from dr_orchestrator.execution.steps.base import (
    BaseHandler,
    NotRetryable,
    StepContext,
    StepOutput,
    spec_get,
)
from dr_orchestrator.planning.model import PlannedStep

_PROMPT_LOCK = threading.Lock()  # parallel services must not interleave prompts


class ApprovalHandler(BaseHandler):
    kind = "approval"

    def describe(self, step: PlannedStep, run: Any) -> str:
        how = "auto-approved" if run.auto_approve else "asks for confirmation"
        return f"approval ({how}): {spec_get(step.spec, 'message', step.name)}"

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        message = str(spec_get(step.spec, "message", step.name))
        if ctx.run.auto_approve:
            ctx.output(f"auto-approved: {message}")
            return StepOutput({"approved_by": "--auto-approve"})
        if not ctx.run.interactive():
            raise NotRetryable(
                f"approval step {step.name!r} needs a person but stdin is not a terminal",
                "run from a terminal to answer the prompt, or pass --auto-approve (CI)")
        with _PROMPT_LOCK:
            approved = ctx.run.prompt(f"[{step.service}] {message}")
        if not approved:
            raise NotRetryable(f"approval step {step.name!r} was refused",
                               "the run stopped here as the operator asked")
        ctx.output(f"approved: {message}")
        return StepOutput({"approved_by": "operator"})


HANDLER = ApprovalHandler()
