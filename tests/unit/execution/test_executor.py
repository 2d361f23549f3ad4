"""Executor semantics with fake handlers and a fake clock."""

from __future__ import annotations

import json

import pytest

from dr_orchestrator.execution import state as st
from tests.unit.execution.fakes import Harness, make_plan


def test_steps_in_order_and_waves_in_order(tmp_path):
    plan = make_plan({"db": [{}, {}, {}], "api": [{}, {}], "web": [{}]},
                     deps={"api": ["db"], "web": ["api"]})
    h = Harness(tmp_path, plan)
    state = h.run()
    assert h.handler.calls == ["db/0/s0", "db/1/s1", "db/2/s2", "api/0/s0", "api/1/s1", "web/0/s0"]
    assert state.ok() and state.status == "ok"
    assert [s.status for s in state.services.values()] == ["ok", "ok", "ok"]


def test_wave_waits_for_previous_wave(tmp_path):
    plan = make_plan({"a": [{"hold": 0.05}], "b": [{"hold": 0.15}], "c": [{}]},
                     deps={"c": ["a", "b"]})
    h = Harness(tmp_path, plan)
    h.run()
    assert h.handler.calls[-1] == "c/0/s0"
    assert set(h.handler.calls[:2]) == {"a/0/s0", "b/0/s0"}


@pytest.mark.parametrize("parallel,expected", [(1, 1), (2, 2), (4, 4)])
def test_parallelism_within_a_wave_is_bounded(tmp_path, parallel, expected):
    plan = make_plan({f"s{i}": [{"hold": 0.08}] for i in range(6)})
    h = Harness(tmp_path, plan, parallel=parallel)
    state = h.run()
    assert state.ok()
    assert h.handler.max_active == expected


def test_timeout_cooperative_sleep(tmp_path):
    plan = make_plan({"a": [{"duration": 300, "timeout": 10}]})
    h = Harness(tmp_path, plan)
    state = h.run()
    rec = state.steps["a/0/s0"]
    assert rec.status == st.FAILED and "timed out" in (rec.error or "")
    assert rec.duration_s == pytest.approx(10.0)
    assert not state.ok()


def test_timeout_detected_after_a_non_cooperative_step(tmp_path):
    plan = make_plan({"a": [{"advance": 30, "timeout": 10}]})
    state = Harness(tmp_path, plan).run()
    assert state.steps["a/0/s0"].status == st.FAILED
    assert "timeout" in (state.steps["a/0/s0"].error or "")


def test_retries_with_exponential_backoff(tmp_path):
    plan = make_plan({"a": [{"fail_times": 2, "retries": 3, "retry_delay": 5}]})
    h = Harness(tmp_path, plan)
    state = h.run()
    rec = state.steps["a/0/s0"]
    assert rec.status == st.SUCCEEDED and rec.attempts == 3
    assert h.clock.sleeps == [5, 10]
    assert rec.duration_s == pytest.approx(15.0)
    events = [json.loads(x) for x in (h.run_dir / "journal.jsonl").read_text().splitlines()]
    assert [e["attempt"] for e in events if e["type"] == "step_retried"] == [1, 2]


def test_retries_exhausted_fail_the_step(tmp_path):
    plan = make_plan({"a": [{"fail_times": 5, "retries": 1, "retry_delay": 1}]})
    h = Harness(tmp_path, plan)
    state = h.run()
    assert state.steps["a/0/s0"].status == st.FAILED
    assert state.steps["a/0/s0"].attempts == 2
    assert h.handler.attempts["a/0/s0"] == 2


def test_abort_stops_the_run(tmp_path):
    plan = make_plan({"a": [{}, {"fail": True}, {}], "b": [{}]}, deps={"b": ["a"]})
    h = Harness(tmp_path, plan)
    state = h.run()
    assert h.handler.calls == ["a/0/s0", "a/1/s1"]
    assert state.services["a"].status == st.SVC_FAILED
    assert state.services["b"].status == st.SKIPPED
    assert state.steps["a/2/s2"].status == st.PENDING
    assert state.status == "failed" and not state.ok()


def test_abort_skips_services_not_yet_started_in_the_same_wave(tmp_path):
    plan = make_plan({"a": [{"fail": True}], "b": [{}], "c": [{}]})
    h = Harness(tmp_path, plan, parallel=1)
    state = h.run()
    assert h.handler.calls == ["a/0/s0"]
    assert state.services["b"].status == state.services["c"].status == st.SKIPPED


def test_continue_records_failure_and_goes_on(tmp_path):
    plan = make_plan({"a": [{"fail": True, "on_failure": "continue"}, {}], "b": [{}]},
                     deps={"b": ["a"]})
    h = Harness(tmp_path, plan)
    state = h.run()
    assert h.handler.calls == ["a/0/s0", "a/1/s1", "b/0/s0"]
    assert state.services["a"].status == st.DEGRADED
    assert state.services["b"].status == st.OK
    assert not state.ok()  # a failed step fails the run even when tolerated


def test_rollback_undoes_completed_steps_in_reverse(tmp_path):
    plan = make_plan({"a": [{}, {}, {"fail": True, "on_failure": "rollback"}, {}],
                      "b": [{}], "c": [{}]}, deps={"b": ["a"]})
    h = Harness(tmp_path, plan, parallel=1)
    state = h.run()
    assert h.handler.rollbacks == ["a/1/s1", "a/0/s0"]
    assert state.services["a"].status == st.ROLLED_BACK
    assert state.steps["a/0/s0"].status == state.steps["a/1/s1"].status == st.ROLLED_BACK
    assert state.services["b"].status == st.SKIPPED  # depends on a rolled-back service
    assert state.services["c"].status == st.OK  # independent services go on
    assert "a/3/s3" not in h.handler.calls


def test_rollback_uses_the_steps_own_rollback_steps(tmp_path):
    plan = make_plan({"a": [{"rollback": [{"kind": "fake", "name": "undo-1"},
                                          {"kind": "fake", "name": "undo-2"}]},
                            {"fail": True, "on_failure": "rollback"}]})
    h = Harness(tmp_path, plan)
    state = h.run()
    assert h.handler.rollbacks == []  # not the handler's generic rollback
    assert h.handler.calls[-2:] == ["a/0/s0:rollback0:undo-1", "a/0/s0:rollback1:undo-2"]
    assert state.steps["a/0/s0"].status == st.ROLLED_BACK


def test_rto_breach_detected_per_service_and_for_the_plan(tmp_path):
    plan = make_plan({"db": [{"duration": 40}, {"duration": 30}], "api": [{"duration": 20}],
                      "web": [{"duration": 5}]},
                     deps={"api": ["db"]}, rto={"db": 60, "api": 200, "web": 10}, runbook_rto=80)
    h = Harness(tmp_path, plan, parallel=1)
    state = h.run()
    s = {x["name"]: x for x in state.summary()["services"]}
    assert s["db"]["recovery_s"] == pytest.approx(70.0)
    assert s["db"]["rto_ok"] is False
    assert s["api"]["rto_ok"] is True and s["api"]["recovery_s"] == pytest.approx(95.0)
    assert state.rto_ok() is False  # the plan took 95 s > 80 s
    assert not state.ok()
    assert all(st_.status == st.SUCCEEDED for st_ in state.steps.values())


def test_within_rto_is_ok(tmp_path):
    plan = make_plan({"db": [{"duration": 10}]}, rto={"db": 60}, runbook_rto=60)
    state = Harness(tmp_path, plan).run()
    assert state.ok() and state.service_rto_ok("db") is True


def test_step_times_recorded_even_when_failing(tmp_path):
    plan = make_plan({"a": [{"duration": 7}, {"duration": 3, "fail": True}]})
    state = Harness(tmp_path, plan).run()
    first, second = state.steps["a/0/s0"], state.steps["a/1/s1"]
    assert (first.started_t, first.ended_t) == (pytest.approx(0.0), pytest.approx(7.0))
    assert (second.started_t, second.ended_t) == (pytest.approx(7.0), pytest.approx(10.0))
    assert second.error and "failed" in second.error


def test_rpo_from_restore_details(tmp_path):
    plan = make_plan({"db": [{"details": {"snapshot_age_s": 120.5}}, {}]})
    state = Harness(tmp_path, plan).run()
    assert state.rpo_s("db") == pytest.approx(120.5)


def test_output_is_truncated_in_the_journal_and_kept_in_full(tmp_path):
    plan = make_plan({"a": [{"print_lines": 250}]})
    h = Harness(tmp_path, plan)
    state = h.run()
    events = [json.loads(x) for x in (h.run_dir / "journal.jsonl").read_text().splitlines()]
    out = [e for e in events if e["type"] == "step_output"]
    assert len(out) == 201 and "truncated" in out[-1]["line"]
    assert all(len(e["line"]) <= 500 for e in out)
    assert state.steps["a/0/s0"].output_lines == 201
    log = (h.run_dir / "output" / "a__0__s0.log").read_text().splitlines()
    assert len(log) == 250 and log[-1].startswith("[stdout] line 249 ")
