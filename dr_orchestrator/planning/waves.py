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

import networkx as nx

from dr_orchestrator.planning.model import Wave


def compute_waves(graph: nx.DiGraph) -> list[Wave]:
    """Topological generations, services within a wave in graph (runbook) order.

    The graph must be acyclic (see graph.check_acyclic).
    """
    order = {name: i for i, name in enumerate(graph)}
    return [
        Wave(index=i, services=tuple(sorted(gen, key=order.__getitem__)))
        for i, gen in enumerate(nx.topological_generations(graph))
    ]
