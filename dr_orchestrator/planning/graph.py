"""The service dependency graph (networkx lives only in this package).

Edges point from a dependency to its dependent (`db -> api` when api depends on
db), so a topological order is a valid recovery order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from dr_orchestrator.errors import BadInput

if TYPE_CHECKING:  # networkx costs ~0.25 s to import: only commands that plan pay it
    import networkx as nx


def build_graph(depends_on: Mapping[str, Sequence[str]]) -> nx.DiGraph:
    """DiGraph with one node per service (in the given order) and an edge dep -> service.

    Dependencies naming an unknown service raise `BadInput` (the validator reports
    them with positions; the planner refuses to guess).
    """
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(depends_on)
    unknown: list[str] = []
    edges = []
    for name, deps in depends_on.items():
        for dep in deps:
            if dep not in depends_on:
                unknown.append(f"{name} -> {dep}")
            edges.append((dep, name))
    if unknown:
        raise BadInput(
            f"unknown dependency: {', '.join(unknown[:5])}" + (" …" if len(unknown) > 5 else ""),
            "every name in depends_on must be a service of the runbook; run `dro validate`",
        )
    graph.add_edges_from(edges)
    return graph


def find_cycle(graph: nx.DiGraph) -> list[str] | None:
    """A dependency cycle as [a, b, …, a] (each depends on the previous), or None."""
    import networkx as nx

    if nx.is_directed_acyclic_graph(graph):
        return None
    edges = nx.find_cycle(graph)
    return [edges[0][0]] + [v for _, v in edges]


def format_cycle(cycle: Sequence[str]) -> str:
    return " -> ".join(cycle)


def check_acyclic(graph: nx.DiGraph) -> None:
    """Raise `BadInput` naming the cycle if the services depend on each other in a loop."""
    cycle = find_cycle(graph)
    if cycle is not None:
        raise BadInput(
            f"dependency cycle: {format_cycle(cycle)}",
            "break the cycle: remove one of these depends_on entries",
        )


def closure(graph: nx.DiGraph, services: Iterable[str]) -> set[str]:
    """The named services plus everything they depend on, transitively."""
    wanted = list(services)
    missing = [s for s in wanted if s not in graph]
    if missing:
        raise BadInput(
            f"unknown service: {', '.join(missing)}",
            f"choose among: {', '.join(sorted(graph)[:20])}",
        )
    # One reverse BFS from all the named services at once: linear in the graph size.
    seen = set(wanted)
    stack = list(wanted)
    pred = graph.pred
    while stack:
        node = stack.pop()
        for dep in pred[node]:
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen
