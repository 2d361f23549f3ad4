"""Waves: the coarse, parallel picture of a plan.

Wave 0 holds the services without dependencies; a service sits in the first wave
after all of its dependencies (topological generations). Services of one wave can
run in parallel.

Failback uses the same order as failover and rebuild: bringing services back on
the primary site still needs a service's dependencies up first (the database
before the api that connects to it). Stopping the recovery copies in reverse
order is part of each service's own failback steps, not of the wave order.
"""

from __future__ import annotations

from dr_orchestrator.planning.graph import DepGraph, check_acyclic, topological_generations


def generations(graph: DepGraph) -> list[list[str]]:
    """Topological generations, each in graph (runbook) order; raises BadInput naming a cycle.

    This is the plan's single topological pass: waves come from it, and flattened it
    is the order the schedule walks in.
    """
    gens = topological_generations(graph)
    if gens is None:
        check_acyclic(graph)  # raises with the cycle spelt out
        raise AssertionError("unreachable: no generations means a cycle")
    order = {name: i for i, name in enumerate(graph)}
    return [sorted(gen, key=order.__getitem__) for gen in gens]
