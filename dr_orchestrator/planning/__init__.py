"""Planning: dependency graph, waves, critical path and RTO estimate (networkx lives only here)."""

from __future__ import annotations

from dr_orchestrator.planning.model import (
    ACTIONS,
    Plan,
    PlannedStep,
    RtoFinding,
    ServicePlan,
    Wave,
    format_seconds,
)

__all__ = ["ACTIONS", "Plan", "PlannedStep", "RtoFinding", "ServicePlan", "Wave", "format_seconds"]
