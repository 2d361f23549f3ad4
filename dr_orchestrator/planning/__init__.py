"""Planning: dependency graph, waves, critical path and RTO estimate (networkx lives only here).

`build_plan(runbook, action)` is the entry point; `critical_path_issues` is what
`dro validate` reports about plans whose estimate exceeds an RTO.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dr_orchestrator.errors import BadInput, Issue
from dr_orchestrator.planning.adapter import plan_input, runbook_file
from dr_orchestrator.planning.model import (
    ACTIONS,
    Plan,
    PlannedStep,
    RtoFinding,
    ServicePlan,
    Wave,
    format_seconds,
)
from dr_orchestrator.planning.planner import plan_from_input

# The action whose estimate is held against the RTOs: failover is the recovery.
RTO_ACTION = "failover"


def build_plan(runbook: Any, action: str, services: Iterable[str] | None = None) -> Plan:
    """The plan of `action` for a loaded runbook; `services` = partial plan (with dependencies).

    Raises `BadInput` for an unknown action or service, an unknown dependency or a cycle.
    """
    if action not in ACTIONS:
        raise BadInput(f"unknown action {action!r}", f"use one of: {', '.join(ACTIONS)}")
    return plan_from_input(plan_input(runbook, action), action, services)


def critical_path_issues(runbook: Any, strict: bool = False) -> list[Issue]:
    """One issue per service whose estimated failover finishes after its RTO, one for the runbook RTO.

    Severity "warning", or "error" when `strict`. Returns [] when no plan can be built
    (cycles and unknown dependencies are reported by the validator itself).
    """
    try:
        plan = build_plan(runbook, RTO_ACTION)
    except BadInput:
        return []
    return findings_to_issues(runbook, plan, strict)


def findings_to_issues(runbook: Any, plan: Plan, strict: bool = False) -> list[Issue]:
    """The plan's RTO findings as positioned issues (the service's `rto:`, else the service, else line 1)."""
    severity = "error" if strict else "warning"
    file_of = runbook_file(runbook)
    issues: list[Issue] = []
    for finding in plan.findings:
        if finding.service is not None:
            file, line, column = _position(runbook, ("services", finding.service, "rto"), file_of)
            chain = " -> ".join(f"{n} ({format_seconds(plan.services[n].duration_s)})"
                                for n in _chain_to(plan, finding.service))
            hint = (f"its {plan.action} waits for the chain {chain}; shorten those steps, "
                    f"correct their estimates, or raise the RTO")
        else:
            file, line, column = _position(runbook, ("rto",), file_of)
            hint = (f"the critical path is {' -> '.join(plan.critical_path)}; shorten its steps, "
                    f"run more in parallel, or raise the runbook RTO")
        issues.append(Issue(file=file, line=line, column=column, message=finding.message(), hint=hint,
                            severity=severity, code="rto-estimate"))
    return issues


def _position(runbook: Any, parts: tuple[str, ...], file: str) -> tuple[str, int, int]:
    position = getattr(runbook, "position", None)
    if callable(position):
        found, line, column = position(*parts)
        return str(found), int(line), int(column)
    return file, 1, 1


def _chain_to(plan: Plan, service: str) -> list[str]:
    """The dependency chain that decides when `service` can finish (its own critical path)."""
    chain = [service]
    current = plan.services[service]
    while current.depends_on:
        current = max((plan.services[d] for d in current.depends_on), key=lambda sp: sp.finish_s)
        chain.append(current.name)
    chain.reverse()
    return chain


__all__ = [
    "ACTIONS", "Plan", "PlannedStep", "RtoFinding", "ServicePlan", "Wave", "build_plan",
    "critical_path_issues", "findings_to_issues", "format_seconds",
]
