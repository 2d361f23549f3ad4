"""Earliest start/finish of every service and the critical path.

Scheduling is "as soon as possible": a service starts when its last dependency
finishes and takes the sum of its steps' estimates. Its finish offset is its
estimated time to recovery. The critical path is the chain of services that
determines the overall finish: the longest path through the graph, weighting
each service by its duration.

Everything is one pass in topological order (O(services + edges)): no path
enumeration, so 10,000 services with 30,000 edges take milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dr_orchestrator.planning.graph import DepGraph
from dr_orchestrator.planning.model import RtoFinding


@dataclass(frozen=True)
class Schedule:
    start: dict[str, float]
    finish: dict[str, float]
    critical_path: tuple[str, ...]
    total_s: float


def schedule(graph: DepGraph, durations: Mapping[str, float],
             order: Iterable[str] | None = None) -> Schedule:
    """ASAP offsets and the critical path of an acyclic dependency graph.

    `order` is a topological order if the caller has one already (saves a pass).
    """
    if order is None:
        from dr_orchestrator.planning.waves import generations

        order = [name for gen in generations(graph) for name in gen]
    start: dict[str, float] = {}
    finish: dict[str, float] = {}
    # The dependency that finishes last: the one a service actually waits for.
    binding: dict[str, str | None] = {}
    pred = graph.pred
    for node in order:
        best: str | None = None
        best_finish = 0.0
        for dep in pred[node]:
            f = finish[dep]
            if best is None or f > best_finish:
                best, best_finish = dep, f
        start[node] = best_finish
        finish[node] = best_finish + durations[node]
        binding[node] = best
    if not finish:
        return Schedule(start, finish, (), 0.0)
    # Last service to finish; ties go to the first in topological order.
    end = max(finish, key=finish.__getitem__)
    path: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        path.append(cursor)
        cursor = binding[cursor]
    path.reverse()
    return Schedule(start, finish, tuple(path), finish[end])


def rto_findings(
    finish: Mapping[str, float],
    service_rto: Mapping[str, float | None],
    total_s: float,
    runbook_rto: float | None,
) -> list[RtoFinding]:
    """One finding per service recovering after its RTO, one if the total exceeds the runbook's."""
    findings = [
        RtoFinding(service=name, estimate_s=finish[name], rto_s=rto)
        for name, rto in service_rto.items()
        if rto is not None and name in finish and finish[name] > rto
    ]
    if runbook_rto is not None and total_s > runbook_rto:
        findings.append(RtoFinding(service=None, estimate_s=total_s, rto_s=runbook_rto))
    return findings
