"""From runbook-shaped objects to a plan: steps, playbook expansion, RTO issues.

Plain namespaces stand in for the pydantic models here (pure-logic unit tests); the
e2e tests run the real loader.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

import dr_orchestrator.runbook as runbook_pkg
from dr_orchestrator.errors import BadInput
from dr_orchestrator.planning import build_plan, critical_path_issues


def step(name, kind="shell", estimate=60, **kw):
    return SimpleNamespace(name=name, kind=kind, estimate=timedelta(seconds=estimate),
                           timeout=timedelta(minutes=5), retries=kw.get("retries", 0),
                           on_failure=kw.get("on_failure", "abort"), playbook=kw.get("playbook"))


def service(deps=(), rto=None, failover=(), failback=(), rebuild=()):
    return SimpleNamespace(site="primary", recovery_site="dr", depends_on=list(deps),
                           rto=timedelta(seconds=rto) if rto is not None else None,
                           failover=list(failover), failback=list(failback), rebuild=list(rebuild))


class Namespace(SimpleNamespace):
    """Like the pydantic Runbook, this can be weakly referenced (SimpleNamespace cannot)."""


def runbook(rto=None, positions=None):
    rb = Namespace(
        rto=timedelta(seconds=rto) if rto is not None else None,
        path="rb.yaml",
        base_dir=".",
        services={
            "db": service(rto=300, failover=[step("restore", "restore", 120), step("start", "ssh", 30)],
                          failback=[step("resync", "shell", 600)]),
            "api": service(deps=["db"], rto=200, failover=[step("deploy", "ssh", 90),
                                                           step("health", "check", 10)]),
        },
    )
    if positions is not None:
        rb.position = lambda *parts: positions.get(".".join(parts), ("rb.yaml", 1, 1))
    return rb


def test_steps_of_the_action_with_their_fields():
    plan = build_plan(runbook(), "failover")
    db = plan.services["db"]
    assert [(s.index, s.name, s.kind, s.estimate_s) for s in db.steps] == [
        (0, "restore", "restore", 120.0), (1, "start", "ssh", 30.0)]
    assert db.steps[0].timeout_s == 300.0 and db.steps[0].spec.name == "restore"
    assert db.recovery_site == "dr" and db.site == "primary"
    assert plan.services["api"].finish_s == 250.0
    assert plan.critical_path == ("db", "api")


def test_failback_keeps_the_dependency_order_and_uses_failback_steps():
    plan = build_plan(runbook(), "failback")
    assert [w.services for w in plan.waves] == [("db",), ("api",)]
    assert [s.name for s in plan.services["db"].steps] == ["resync"]
    assert plan.services["api"].steps == () and plan.estimated_total_s == 600.0


def test_playbook_steps_are_expanded(monkeypatch):
    def expand(rb, st, base_dir):
        if st.playbook == "missing":
            raise BadInput("playbook 'missing' not found")
        return [step("stop", "ssh", 5), step("nested", "playbook", 0, playbook="inner")] \
            if st.playbook == "outer" else [step("sync", "shell", 7)]

    monkeypatch.setattr(runbook_pkg, "expand_playbook", expand, raising=False)
    rb = runbook()
    rb.services["api"].failover = [step("swap", "playbook", 1, playbook="outer"),
                                   step("gone", "playbook", 42, playbook="missing")]
    plan = build_plan(rb, "failover")
    steps = plan.services["api"].steps
    assert [(s.name, s.playbook) for s in steps] == [
        ("stop", "swap"), ("sync", "swap/nested"), ("gone", None)]
    assert plan.services["api"].duration_s == 5 + 7 + 42
    assert len(plan.warnings) == 1 and "'gone' not expanded" in plan.warnings[0]


def test_critical_path_issues_positions_and_severity():
    positions = {"services.api.rto": ("rb.yaml", 12, 5), "rto": ("rb.yaml", 3, 1)}
    rb = runbook(rto=240, positions=positions)
    issues = critical_path_issues(rb, strict=False)
    assert [(i.location(), i.severity, i.code) for i in issues] == [
        ("rb.yaml:12:5", "warning", "rto-estimate"), ("rb.yaml:3:1", "warning", "rto-estimate")]
    assert "'api'" in issues[0].message and "4m10s" in issues[0].message and "3m20s" in issues[0].message
    assert "db (2m30s) -> api (1m40s)" in (issues[0].hint or "")
    assert [i.severity for i in critical_path_issues(rb, strict=True)] == ["error", "error"]


def test_critical_path_issues_without_positions_point_at_line_one():
    issues = critical_path_issues(runbook(), strict=False)
    assert [i.location() for i in issues] == ["rb.yaml:1:1"]


def test_critical_path_issues_are_empty_when_estimates_fit():
    rb = runbook(rto=10_000)
    rb.services["api"].rto = timedelta(hours=1)
    assert critical_path_issues(rb) == []


def test_critical_path_issues_skip_graphs_the_validator_rejects():
    rb = runbook(rto=1)
    rb.services["db"].depends_on = ["api"]  # cycle: reported by the validator, not here
    assert critical_path_issues(rb) == []
    with pytest.raises(BadInput, match="dependency cycle"):
        build_plan(rb, "failover")


def test_unknown_action():
    with pytest.raises(BadInput):
        build_plan(runbook(), "nope")


def test_long_chains_are_summarised_in_hints():
    rb = SimpleNamespace(rto=timedelta(seconds=1), path="rb.yaml", base_dir=".", services={
        f"s{i}": service(deps=[f"s{i - 1}"] if i else [], rto=1, failover=[step("x", estimate=10)])
        for i in range(20)
    })
    issues = critical_path_issues(rb)
    assert len(issues) == 21  # every service over its 1s RTO, and the runbook
    assert issues[19].hint.startswith(
        "its failover waits for the chain s0 (10s) -> … 15 more … -> s16 (10s) -> s17 (10s) -> "
        "s18 (10s) -> s19 (10s);")
    assert "chain s0 (10s) -> s1 (10s) -> s2 (10s);" in issues[2].hint
    assert "s0 (10s) -> s1 (10s) -> s2 (10s) -> s3 (10s) -> s4 (10s);" in issues[4].hint
    assert "s0 (10s) -> … 1 more … -> s2 (10s) -> s3 (10s) -> s4 (10s) -> s5 (10s);" in issues[5].hint
    assert issues[20].hint.startswith("the critical path is s0 (10s) -> … 15 more … -> s16 (10s)")


def test_build_plan_restores_the_garbage_collector():
    import gc

    assert gc.isenabled()
    build_plan(runbook(), "failover")
    assert gc.isenabled()
    with pytest.raises(BadInput):
        build_plan(runbook(), "failover", services=["nope"])
    assert gc.isenabled()
    gc.disable()
    try:
        build_plan(runbook(), "failover")
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_plan_validated_reuses_the_validation_plan_once():
    import dr_orchestrator.planning as planning
    from dr_orchestrator.planning import plan_validated

    rb, other = runbook(), runbook()
    critical_path_issues(rb)
    assert planning._last is not None
    cached = planning._last[1]
    first = plan_validated(rb, "failover")
    assert first is cached  # the validation's plan, not a new one
    assert plan_validated(rb, "failover") is not first  # one shot: built again
    assert plan_validated(rb, "failover").to_dict() == first.to_dict()
    critical_path_issues(rb)
    assert plan_validated(other, "failover").services.keys() == first.services.keys()  # other object
    critical_path_issues(rb)
    assert plan_validated(rb, "failback").action == "failback"  # other action: built
    critical_path_issues(rb)
    assert set(plan_validated(rb, "failover", ["db"]).services) == {"db"}  # partial: built
