"""Drill history feeds the plan: measured step durations replace hand-written estimates."""

from __future__ import annotations

from pathlib import Path

from dr_orchestrator.drill.history import DrillRecord, measured_estimates
from dr_orchestrator.planning import build_plan
from dr_orchestrator.planning.render import render
from dr_orchestrator.runbook import load_runbook

ROOT = Path(__file__).resolve().parents[3]


def _record(run: str, restore_s: float) -> DrillRecord:
    return DrillRecord(run_id=run, time="2026-11-26T00:00:00+00:00", passed=True, duration_s=10.0,
                       services={}, steps={"database/restore-db": restore_s, "api/start-api": 2.0},
                       objectives=[])


def test_median_of_recent_drills():
    records = [_record(f"r{i}", s) for i, s in enumerate([100.0, 4.0, 6.0, 5.0, 7.0, 3.0])]
    est = measured_estimates(records, recent=5)  # the oldest (100 s) is no longer recent
    assert est == {"database/restore-db": 5.0, "api/start-api": 2.0}


def test_plan_uses_measured_durations_and_marks_them():
    rb = load_runbook(ROOT / "runbooks" / "quickstart.yaml")
    hand = build_plan(rb, "failover")
    measured = build_plan(rb, "failover", measured={"database/restore-db": 2.5})
    step = measured.services["database"].steps[0]
    assert step.name == "restore-db" and step.measured and step.estimate_s == 2.5
    assert hand.services["database"].steps[0].estimate_s == 20.0
    assert measured.estimated_total_s == hand.estimated_total_s - 17.5
    assert not measured.services["database"].steps[1].measured
    table = render(measured, "table")
    (row,) = [line for line in table.splitlines() if "restore-db" in line]
    assert "≈" in row and "≈ measured" in table
    assert "≈" not in render(hand, "table")
