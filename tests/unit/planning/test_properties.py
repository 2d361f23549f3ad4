"""Hypothesis properties of the planner on random DAGs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dr_orchestrator.planning.inputs import simple_input
from dr_orchestrator.planning.planner import plan_from_input


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 9) -> tuple[dict[str, float], dict[str, list[str]]]:
    """A random DAG: node i may depend only on nodes j < i (then shuffled names)."""
    n = draw(st.integers(min_value=1, max_value=max_nodes))
    names = draw(st.permutations([f"s{i}" for i in range(n)]))
    durations = {
        name: draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 7.5, 60.0])) for name in names
    }
    deps: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        earlier = names[:i]
        if earlier:
            deps[name] = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=4))
    return durations, deps


def all_paths(durations: dict[str, float], deps: dict[str, list[str]]) -> list[list[str]]:
    """Every path from a source to any node, by brute force (exponential: small graphs only)."""
    dependents: dict[str, list[str]] = {n: [] for n in durations}
    for svc, ds in deps.items():
        for d in ds:
            dependents[d].append(svc)
    paths: list[list[str]] = []

    def walk(path: list[str]) -> None:
        paths.append(path)
        for nxt in dependents[path[-1]]:
            walk([*path, nxt])

    for node in durations:
        if not deps.get(node):
            walk([node])
    return paths


@settings(max_examples=300, deadline=None)
@given(dags())
def test_every_dependency_is_in_an_earlier_wave(dag):
    durations, deps = dag
    plan = plan_from_input(simple_input(durations, deps), "failover")
    wave_of = {name: w.index for w in plan.waves for name in w.services}
    assert set(wave_of) == set(durations)  # every service planned exactly once
    assert sum(len(w.services) for w in plan.waves) == len(durations)
    for svc, ds in deps.items():
        for d in ds:
            assert wave_of[d] < wave_of[svc]
    # and each service sits in the *first* wave possible
    for svc in durations:
        expected = max((wave_of[d] + 1 for d in deps.get(svc, [])), default=0)
        assert wave_of[svc] == expected


@settings(max_examples=300, deadline=None)
@given(dags())
def test_critical_path_is_the_longest_path(dag):
    durations, deps = dag
    plan = plan_from_input(simple_input(durations, deps), "failover")
    longest = max(sum(durations[n] for n in path) for path in all_paths(durations, deps))
    path = list(plan.critical_path)
    # the reported path is a real dependency chain starting at a service without dependencies ...
    assert not deps.get(path[0])
    for dep, svc in zip(path, path[1:], strict=False):
        assert dep in deps[svc]
    # ... whose length is the brute-force maximum and equals the estimated total
    assert sum(durations[n] for n in path) == pytest.approx(longest)
    assert plan.estimated_total_s == pytest.approx(longest)


@settings(max_examples=200, deadline=None)
@given(dags())
def test_services_start_after_their_dependencies_finish(dag):
    durations, deps = dag
    plan = plan_from_input(simple_input(durations, deps), "failover")
    s = plan.services
    for svc, sp in s.items():
        assert sp.finish_s == pytest.approx(sp.start_s + durations[svc])
        starts_after = max((s[d].finish_s for d in deps.get(svc, [])), default=0.0)
        assert sp.start_s == pytest.approx(starts_after)  # as soon as possible, never earlier


@settings(max_examples=200, deadline=None)
@given(dags(), st.data())
def test_partial_plan_holds_exactly_the_dependency_closure(dag, data):
    durations, deps = dag
    requested = data.draw(st.lists(st.sampled_from(sorted(durations)), min_size=1, max_size=3))
    plan = plan_from_input(simple_input(durations, deps), "failover", services=requested)
    expected: set[str] = set()
    todo = list(requested)
    while todo:
        node = todo.pop()
        if node not in expected:
            expected.add(node)
            todo.extend(deps.get(node, []))
    assert set(plan.services) == expected
    for svc in plan.services:
        assert set(deps.get(svc, [])) <= set(plan.services)
