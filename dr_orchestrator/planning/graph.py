"""The service dependency graph.

A plain-dict graph: planning 10,000 services must not pay networkx's import (~0.25 s)
and per-edge bookkeeping (~0.4 s) for two linear passes. networkx is kept for the cold
path only: spelling out a dependency cycle when there is one.

Edges point from a dependency to its dependent (`db -> api` when api depends on db),
so a topological order is a valid recovery order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from dr_orchestrator.errors import BadInput


class DepGraph:
    """Services in runbook order; `pred[s]` = what s depends on, `succ[s]` = what depends on s."""

    __slots__ = ("pred", "succ")

    def __init__(self, pred: dict[str, tuple[str, ...]]) -> None:
        self.pred = pred
        succ: dict[str, list[str]] = {name: [] for name in pred}
        for name, deps in pred.items():
            for dep in deps:
                succ[dep].append(name)
        self.succ = succ

    def __iter__(self) -> Iterator[str]:
        return iter(self.pred)

    def __contains__(self, name: object) -> bool:
        return name in self.pred

    def __len__(self) -> int:
        return len(self.pred)

    def subgraph(self, keep: set[str]) -> DepGraph:
        """Only the services in `keep` (runbook order kept); `keep` must be closed under deps."""
        return DepGraph({name: deps for name, deps in self.pred.items() if name in keep})


def build_graph(depends_on: Mapping[str, Sequence[str]]) -> DepGraph:
    """One node per service (in the given order), an edge dep -> service.

    Dependencies naming an unknown service raise `BadInput` (the validator reports
    them with positions; the planner refuses to guess).
    """
    unknown = [f"{name} -> {dep}" for name, deps in depends_on.items() for dep in deps if dep not in depends_on]
    if unknown:
        raise BadInput(
            f"unknown dependency: {', '.join(unknown[:5])}" + (" …" if len(unknown) > 5 else ""),
            "every name in depends_on must be a service of the runbook; run `dro validate`",
        )
    # dict.fromkeys: a dependency listed twice is one edge
    return DepGraph({name: tuple(dict.fromkeys(deps)) for name, deps in depends_on.items()})


def topological_generations(graph: DepGraph) -> list[list[str]] | None:
    """Kahn's algorithm by levels: services whose dependencies are all in earlier levels.

    Each level is in discovery order (the caller sorts it). None when there is a cycle."""
    remaining = {name: len(deps) for name, deps in graph.pred.items()}
    level = [name for name, count in remaining.items() if count == 0]
    out: list[list[str]] = []
    placed = 0
    succ = graph.succ
    while level:
        out.append(level)
        placed += len(level)
        following: list[str] = []
        for name in level:
            for dependent in succ[name]:
                remaining[dependent] -= 1
                if remaining[dependent] == 0:
                    following.append(dependent)
        level = following
    return out if placed == len(graph) else None


def find_cycle(graph: DepGraph) -> list[str] | None:
    """A dependency cycle as [a, b, …, a] (each depends on the previous), or None."""
    if topological_generations(graph) is not None:
        return None
    import networkx as nx  # the cold path only: a cycle to spell out

    nxg = nx.DiGraph()
    nxg.add_nodes_from(graph)
    nxg.add_edges_from((dep, name) for name, deps in graph.pred.items() for dep in deps)
    edges = nx.find_cycle(nxg)
    return [edges[0][0]] + [v for _, v in edges]


def format_cycle(cycle: Sequence[str]) -> str:
    return " -> ".join(cycle)


def check_acyclic(graph: DepGraph) -> None:
    """Raise `BadInput` naming the cycle if the services depend on each other in a loop."""
    cycle = find_cycle(graph)
    if cycle is not None:
        raise BadInput(
            f"dependency cycle: {format_cycle(cycle)}",
            "break the cycle: remove one of these depends_on entries",
        )


def closure(graph: DepGraph, services: Iterable[str]) -> set[str]:
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
