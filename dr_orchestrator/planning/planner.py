"""Build a `Plan` from the planner's plain-data input."""

from __future__ import annotations

from collections.abc import Iterable

from dr_orchestrator.errors import BadInput
from dr_orchestrator.planning.critical_path import rto_findings, schedule
from dr_orchestrator.planning.graph import build_graph, closure
from dr_orchestrator.planning.inputs import PlanInput
from dr_orchestrator.planning.model import ACTIONS, Plan, ServicePlan, Wave, new_service_plan
from dr_orchestrator.planning.waves import generations


def plan_from_input(inp: PlanInput, action: str, services: Iterable[str] | None = None) -> Plan:
    """Waves, timings and critical path for `action` over all services or a partial set.

    `services` restricts the plan to those services plus everything they depend on.
    Raises `BadInput` for an unknown action or service, an unknown dependency or a cycle.
    """
    if action not in ACTIONS:
        raise BadInput(f"unknown action {action!r}", f"use one of: {', '.join(ACTIONS)}")
    full = build_graph({name: svc.depends_on for name, svc in inp.services.items()})
    requested = tuple(dict.fromkeys(services or ()))
    graph = full
    if requested:
        keep = closure(full, requested)
        graph = full.subgraph(keep)  # (keeps the runbook order, which waves rely on)
    gens = generations(graph)  # raises BadInput on a cycle
    waves = [Wave(index=i, services=tuple(gen)) for i, gen in enumerate(gens)]
    durations = {name: inp.services[name].duration_s for name in graph}
    sched = schedule(graph, durations, order=(name for gen in gens for name in gen))
    critical = set(sched.critical_path)
    plans: dict[str, ServicePlan] = {}
    for wave in waves:
        for name in wave.services:
            svc = inp.services[name]
            plans[name] = new_service_plan(
                name=name,
                steps=svc.steps,
                depends_on=svc.depends_on,
                wave=wave.index,
                duration_s=durations[name],
                start_s=sched.start[name],
                finish_s=sched.finish[name],
                rto_s=svc.rto_s,
                site=svc.site,
                recovery_site=svc.recovery_site,
                critical=name in critical,
            )
    findings = rto_findings(
        sched.finish, {n: inp.services[n].rto_s for n in graph}, sched.total_s, inp.rto_s
    )
    return Plan(
        action=action,
        waves=tuple(waves),
        services=plans,
        critical_path=sched.critical_path,
        estimated_total_s=sched.total_s,
        rto_s=inp.rto_s,
        requested=requested,
        findings=tuple(findings),
        warnings=inp.warnings,
    )
