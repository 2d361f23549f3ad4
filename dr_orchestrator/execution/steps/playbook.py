"""`playbook`: a reusable step list (playbooks/NAME.yaml, Jinja2 rendered in a sandbox
by the runbook package's `expand_playbook`), run here as sub-steps in order.

The planner normally expands playbooks already, so each playbook step appears in the
plan (and the journal) on its own; this handler runs the ones it could not expand
ahead of time. Sub-steps share the playbook step's deadline and cancellation.
"""

from __future__ import annotations

from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepOutput, spec_get
from dr_orchestrator.planning.model import PlannedStep


def expand(step: PlannedStep, run: Any) -> list[Any]:
    try:
        from dr_orchestrator.runbook import expand_playbook  # type: ignore[attr-defined]
    except ImportError:
        raise BadInput("playbooks cannot be expanded: the runbook package has no expand_playbook",
                       "upgrade dr-orchestrator") from None
    return list(expand_playbook(run.runbook, step.spec, run.base_dir))


class PlaybookHandler(BaseHandler):
    kind = "playbook"

    def describe(self, step: PlannedStep, run: Any) -> str:
        from dr_orchestrator.execution.executor import substep

        lines = [f"playbook {spec_get(step.spec, 'playbook')}:"]
        try:
            for index, spec in enumerate(expand(step, run)):
                sub = substep(step, spec, str(index))
                lines.append("    " + run.registry.get(sub.kind).describe(sub, run))
        except Exception as exc:  # dry-run reports, never fails on a description
            lines.append(f"    (cannot expand: {exc})")
        return "\n".join(lines)

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        from dr_orchestrator.execution.executor import substep

        specs = expand(step, ctx.run)
        for index, spec in enumerate(specs):
            sub = substep(step, spec, str(index))
            ctx.output(f"playbook step {index + 1}/{len(specs)}: {sub.name}")
            sub_ctx = StepContext(ctx.run, sub, ctx.attempt, ctx.deadline, ctx.cancel, ctx.host_override)
            ctx.run.registry.get(sub.kind).run(sub, sub_ctx)
            ctx.check_deadline()
        return StepOutput({"playbook": spec_get(step.spec, "playbook"), "steps": len(specs)})


HANDLER = PlaybookHandler()
