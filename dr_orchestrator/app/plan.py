"""Use cases: plan an action over a runbook, render its dependency graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dr_orchestrator.errors import BadInput, DRError, Issue
from dr_orchestrator.planning import ACTIONS, Plan, findings_to_issues, plan_validated
from dr_orchestrator.planning.render import FORMATS, GRAPH_FORMATS, render


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    issues: list[Issue]  # RTO findings as issues (errors when strict)


def load(runbook_path: str) -> Any:
    from dr_orchestrator.runbook import load_runbook

    return load_runbook(runbook_path)


def measured_estimates(runbook: Any) -> dict[str, float]:
    """Median step durations of recent drills ("service/step" -> seconds); {} without history.

    Best effort: a plan must not fail because the history location is unreachable.
    """
    from dr_orchestrator.app.locations import history_backend
    from dr_orchestrator.drill import history

    try:
        backend = history_backend(runbook)
        return {} if backend is None else history.measured_estimates(history.load(backend, history.RECENT))
    except (DRError, OSError):
        return {}


def plan(runbook_path: str, action: str = "failover", services: Sequence[str] = (),
         strict: bool = False, use_history: bool = True) -> PlanResult:
    """Load the runbook and plan `action` (for `services` and their dependencies, or everything).

    A failover plan uses the measured step durations of recent drills instead of the
    runbook's estimates where drills have measured them (`use_history=False` turns that off).
    """
    if action not in ACTIONS:
        raise BadInput(f"unknown action {action!r}", f"use one of: {', '.join(ACTIONS)}")
    runbook = load(runbook_path)
    measured = measured_estimates(runbook) if use_history and action == "failover" else {}
    result = plan_validated(runbook, action, services or None, measured or None)
    return PlanResult(result, findings_to_issues(runbook, result, strict))


def graph(runbook_path: str, services: Sequence[str] = ()) -> Plan:
    """The dependency graph of a runbook, as a (failover) plan to render with `graph=True`."""
    return plan_validated(load(runbook_path), "failover", services or None)


def check_format(fmt: str, allowed: Sequence[str]) -> None:
    if fmt not in allowed:
        raise BadInput(f"unknown format {fmt!r}", f"use one of: {', '.join(allowed)}")


__all__ = ["FORMATS", "GRAPH_FORMATS", "PlanResult", "check_format", "graph", "plan", "render"]
