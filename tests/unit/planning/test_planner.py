"""The planner on hand-built graphs: waves, timings, critical path, partial plans, cycles."""

from __future__ import annotations

import pytest

from dr_orchestrator.errors import BadInput
from dr_orchestrator.planning.graph import build_graph, closure, find_cycle
from dr_orchestrator.planning.inputs import simple_input
from dr_orchestrator.planning.planner import plan_from_input

# db(10) and cache(3) first; api(5) needs both; web(2) needs api; batch(1) needs db only.
DURATIONS = {"db": 10.0, "cache": 3.0, "api": 5.0, "web": 2.0, "batch": 1.0}
DEPS = {"api": ["db", "cache"], "web": ["api"], "batch": ["db"]}


def test_waves_group_services_whose_dependencies_are_done():
    plan = plan_from_input(simple_input(DURATIONS, DEPS), "failover")
    assert [w.services for w in plan.waves] == [("db", "cache"), ("api", "batch"), ("web",)]
    assert [plan.services[n].wave for n in ("db", "cache", "api", "batch", "web")] == [0, 0, 1, 1, 2]


def test_asap_offsets_and_critical_path():
    plan = plan_from_input(simple_input(DURATIONS, DEPS), "failover")
    s = plan.services
    assert (s["db"].start_s, s["db"].finish_s) == (0.0, 10.0)
    assert (s["cache"].start_s, s["cache"].finish_s) == (0.0, 3.0)
    assert (s["api"].start_s, s["api"].finish_s) == (10.0, 15.0)  # waits for db, not cache
    assert (s["batch"].start_s, s["batch"].finish_s) == (10.0, 11.0)
    assert s["web"].finish_s == 17.0
    assert plan.critical_path == ("db", "api", "web")
    assert plan.estimated_total_s == 17.0
    assert [n for n, sp in s.items() if sp.critical] == ["db", "api", "web"]


def test_critical_path_follows_the_slow_branch():
    durations = dict(DURATIONS, cache=30.0)
    plan = plan_from_input(simple_input(durations, DEPS), "failover")
    assert plan.critical_path == ("cache", "api", "web")
    assert plan.estimated_total_s == 37.0


def test_rto_findings_per_service_and_overall():
    inp = simple_input(DURATIONS, DEPS, rto={"web": 15.0, "api": 15.0, "db": 60.0}, runbook_rto=16.0)
    plan = plan_from_input(inp, "failover")
    over = {(f.service, f.estimate_s, f.rto_s) for f in plan.findings}
    assert over == {("web", 17.0, 15.0), (None, 17.0, 16.0)}  # api finishes exactly at 15: OK
    assert plan.services["api"].rto_ok is True
    assert plan.services["web"].rto_ok is False
    assert plan.services["cache"].rto_ok is None
    assert plan.rto_ok is False


def test_partial_plan_is_the_closure_of_the_named_services():
    plan = plan_from_input(simple_input(DURATIONS, DEPS), "failover", services=["api"])
    assert set(plan.services) == {"api", "db", "cache"}
    assert plan.requested == ("api",)
    assert plan.critical_path == ("db", "api")
    assert plan.estimated_total_s == 15.0


def test_closure_is_transitive_and_ignores_dependents():
    graph = build_graph({"a": [], "b": ["a"], "c": ["b"], "d": ["c"], "x": []})
    assert closure(graph, ["c"]) == {"a", "b", "c"}
    assert closure(graph, ["c", "x"]) == {"a", "b", "c", "x"}
    assert closure(graph, ["a"]) == {"a"}


def test_unknown_requested_service_is_bad_input():
    with pytest.raises(BadInput, match="unknown service: nope"):
        plan_from_input(simple_input(DURATIONS, DEPS), "failover", services=["nope"])


def test_unknown_dependency_is_bad_input():
    with pytest.raises(BadInput, match="unknown dependency: api -> ghost"):
        plan_from_input(simple_input({"api": 1.0}, {"api": ["ghost"]}), "failover")


def test_unknown_action_is_bad_input():
    with pytest.raises(BadInput, match="unknown action"):
        plan_from_input(simple_input(DURATIONS, DEPS), "explode")


def test_cycle_is_reported_with_its_members():
    deps = {"a": ["c"], "b": ["a"], "c": ["b"], "d": []}
    graph = build_graph(deps)
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    # each consecutive pair is a real edge: the later one depends on the earlier one
    for dep, svc in zip(cycle, cycle[1:], strict=False):
        assert dep in deps[svc]
    with pytest.raises(BadInput, match=r"dependency cycle: (\w -> ){3}\w"):
        plan_from_input(simple_input(dict.fromkeys(deps, 1.0), deps), "failover")


def test_self_dependency_is_a_cycle():
    assert find_cycle(build_graph({"a": ["a"]})) == ["a", "a"]


def test_acyclic_graph_has_no_cycle():
    assert find_cycle(build_graph({"a": [], "b": ["a"]})) is None


def test_empty_runbook_gives_an_empty_plan():
    plan = plan_from_input(simple_input({}), "rebuild")
    assert plan.waves == () and plan.critical_path == () and plan.estimated_total_s == 0.0


def test_steps_and_edges_in_plan_order():
    plan = plan_from_input(simple_input(DURATIONS, DEPS), "failback")
    assert [s.service for s in plan.steps()] == ["db", "cache", "api", "batch", "web"]
    assert set(plan.edges()) == {("db", "api"), ("cache", "api"), ("api", "web"), ("db", "batch")}
    assert plan.action == "failback"
