"""The planner's own input: plain data, independent of the runbook models.

`adapter.py` turns a loaded runbook into a `PlanInput` for one action; tests and
benchmarks may build one by hand. Keeping the core on plain data means the graph
algorithms can be tested (and property-tested) without YAML or pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dr_orchestrator.planning.model import PlannedStep, fast_constructor


@dataclass(frozen=True)
class ServiceInput:
    """One service as the planner sees it, with the steps of the planned action."""

    name: str
    depends_on: tuple[str, ...] = ()
    steps: tuple[PlannedStep, ...] = ()
    rto_s: float | None = None
    site: str | None = None
    recovery_site: str | None = None
    file: str | None = None  # where the service is declared, for issues
    line: int | None = None
    column: int | None = None

    @property
    def duration_s(self) -> float:
        return sum(step.estimate_s for step in self.steps)


new_service_input = fast_constructor(ServiceInput)


@dataclass(frozen=True)
class PlanInput:
    """Every service of a runbook (in runbook order) and the runbook-wide RTO."""

    services: dict[str, ServiceInput] = field(hash=False)
    rto_s: float | None = None
    file: str = "<runbook>"
    warnings: tuple[str, ...] = ()


def simple_input(
    durations: dict[str, float],
    deps: dict[str, list[str]] | None = None,
    rto: dict[str, float] | None = None,
    runbook_rto: float | None = None,
) -> PlanInput:
    """Build an input from {name: duration} and {name: [deps]}: one step per service.

    Meant for tests and benchmarks.
    """
    deps = deps or {}
    rto = rto or {}
    services = {
        name: ServiceInput(
            name=name,
            depends_on=tuple(deps.get(name, ())),
            steps=(PlannedStep(service=name, index=0, name="run", kind="shell", estimate_s=dur),),
            rto_s=rto.get(name),
        )
        for name, dur in durations.items()
    }
    return PlanInput(services=services, rto_s=runbook_rto)
