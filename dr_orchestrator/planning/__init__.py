"""Planning: dependency graph, waves, critical path and RTO estimate.

`build_plan(runbook, action)` is the entry point; `critical_path_issues` is what
`dro validate` reports about plans whose estimate exceeds an RTO.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from dr_orchestrator.errors import BadInput, Issue
from dr_orchestrator.gcpause import gc_paused
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


def build_plan(runbook: Any, action: str, services: Iterable[str] | None = None,
               measured: Mapping[str, float] | None = None) -> Plan:
    """The plan of `action` for a loaded runbook; `services` = partial plan (with dependencies).

    `measured` maps "service/step name" to a measured duration (median of recent drills)
    that replaces the runbook's hand-written estimate of that step.

    Raises `BadInput` for an unknown action or service, an unknown dependency or a cycle.
    """
    if action not in ACTIONS:
        raise BadInput(f"unknown action {action!r}", f"use one of: {', '.join(ACTIONS)}")
    with gc_paused():  # (see gcpause: a big plan takes half the time without the collector)
        return plan_from_input(plan_input(runbook, action, measured), action, services)


def critical_path_issues(runbook: Any, strict: bool = False) -> list[Issue]:
    """One issue per service whose estimated failover finishes after its RTO, one for the runbook RTO.

    Severity "warning", or "error" when `strict`. Returns [] when no plan can be built
    (cycles and unknown dependencies are reported by the validator itself).
    """
    try:
        plan = build_plan(runbook, RTO_ACTION)
    except BadInput:
        return []
    _remember(runbook, plan)
    return findings_to_issues(runbook, plan, strict)


# The failover plan the validator's RTO check built last, for `plan_validated` to reuse:
# `dro plan` loads (= validates) the runbook and plans it at once, and a 10,000-service
# plan costs a noticeable share of that. Weak reference: never keeps a runbook alive.
_last: tuple[weakref.ref[Any], Plan] | None = None


def _remember(runbook: Any, plan: Plan) -> None:
    global _last
    try:
        _last = (weakref.ref(runbook), plan)
    except TypeError:  # an object without weak references: simply nothing to reuse
        _last = None


def plan_validated(runbook: Any, action: str, services: Iterable[str] | None = None,
                   measured: Mapping[str, float] | None = None) -> Plan:
    """`build_plan` for a runbook just returned by `load_runbook`.

    A full failover plan is taken (once) from the validation that just ran on this same
    runbook object instead of being built again; anything else is built as usual. Call it
    only right after loading: a runbook changed since its validation would get a stale plan.
    """
    global _last
    cached, _last = _last, None
    if cached is not None and action == RTO_ACTION and not services and not measured and cached[0]() is runbook:
        return cached[1]
    return build_plan(runbook, action, services, measured)


def findings_to_issues(runbook: Any, plan: Plan, strict: bool = False) -> list[Issue]:
    """The plan's RTO findings as positioned issues (the service's `rto:`, else the service, else line 1)."""
    severity = "error" if strict else "warning"
    file_of = runbook_file(runbook)
    chains = _Chains(plan)
    issues: list[Issue] = []
    for finding in plan.findings:
        if finding.service is not None:
            file, line, column = _position(runbook, ("services", finding.service, "rto"), file_of)
            hint = (f"its {plan.action} waits for the chain {chains.describe(finding.service)}; "
                    f"shorten those steps, correct their estimates, or raise the RTO")
        else:
            file, line, column = _position(runbook, ("rto",), file_of)
            path = plan.critical_path
            hint = (f"the critical path is {chains.describe(path[-1]) if path else '(empty)'}; "
                    f"shorten its steps, run more in parallel, or raise the runbook RTO")
        issues.append(Issue(file=file, line=line, column=column, message=finding.message(), hint=hint,
                            severity=severity, code="rto-estimate"))
    return issues


def _position(runbook: Any, parts: tuple[str, ...], file: str) -> tuple[str, int, int]:
    position = getattr(runbook, "position", None)
    if callable(position):
        found, line, column = position(*parts)
        return str(found), int(line), int(column)
    return file, 1, 1


class _Chains:
    """The dependency chain that decides when a service finishes (its own critical path).

    Chains can be thousands of services long and many services may miss their RTO, so
    each service's chain start and length are memoised: O(services) for all issues, and
    a hint names only the ends of a long chain.
    """

    SHOWN = 5

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.root: dict[str, str] = {}
        self.length: dict[str, int] = {}

    def binding(self, name: str) -> str | None:
        """The dependency that finishes last (the first of equals, as the scheduler picks)."""
        deps = self.plan.services[name].depends_on
        return max(deps, key=lambda d: self.plan.services[d].finish_s) if deps else None

    def _resolve(self, name: str) -> None:
        pending: list[str] = []
        node: str | None = name
        while node is not None and node not in self.root:
            pending.append(node)
            node = self.binding(node)
        root, length = (self.root[node], self.length[node]) if node is not None else (pending[-1], 0)
        for item in reversed(pending):
            length += 1
            self.root[item], self.length[item] = root, length

    def describe(self, name: str) -> str:
        """`a (1m) -> b (2m) -> name (30s)`; a long chain as `root -> … N more … -> last four`."""
        self._resolve(name)
        total = self.length[name]
        keep = total if total <= self.SHOWN else self.SHOWN - 1
        tail = [name]
        while len(tail) < keep and (dep := self.binding(tail[-1])) is not None:
            tail.append(dep)
        labels = [f"{n} ({format_seconds(self.plan.services[n].duration_s)})" for n in reversed(tail)]
        if total <= self.SHOWN:
            return " -> ".join(labels)
        root = self.root[name]
        head = f"{root} ({format_seconds(self.plan.services[root].duration_s)})"
        return f"{head} -> … {total - self.SHOWN} more … -> " + " -> ".join(labels)


__all__ = [
    "ACTIONS", "Plan", "PlannedStep", "RtoFinding", "ServicePlan", "Wave", "build_plan",
    "critical_path_issues", "findings_to_issues", "format_seconds", "plan_validated",
]
