"""Journal replay and resume: completed steps never run twice; in-flight steps follow policy."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from dr_orchestrator.errors import BadInput, LockHeld
from dr_orchestrator.execution import state as st
from dr_orchestrator.execution.executor import Executor
from dr_orchestrator.execution.journal import read_journal
from dr_orchestrator.execution.locks import PlanLock
from dr_orchestrator.execution.redact import Redactor
from dr_orchestrator.execution.resume import check_resumable, load_state, reopen_journal
from tests.unit.execution.fakes import Crash, Harness, make_plan


def crashing_plan(on_failure="abort"):
    return make_plan({
        "db": [{}, {}],
        "api": [{}, {"crash_on_call": 1, "on_failure": on_failure}, {}],
        "web": [{}],
    }, deps={"web": ["db", "api"]})


def resume(h: Harness):
    events, state = load_state(h.run_dir)
    check_resumable(state, h.plan)
    journal = reopen_journal(h.run_dir, events, state, h.clock, Redactor(), fsync=False)
    ex = Executor(h.plan, h.context(), journal, h.registry, h.parallel, state=state)
    journal.emit("run_resumed", run_id="r1")
    try:
        return ex.execute()
    finally:
        journal.close()


def test_resume_after_crash_repeats_no_completed_step(tmp_path):
    h = Harness(tmp_path, crashing_plan(), parallel=1)
    with pytest.raises(Crash):
        h.run()
    before = list(h.handler.calls)
    assert before == ["db/0/s0", "db/1/s1", "api/0/s0", "api/1/s1"]
    _, mid = load_state(h.run_dir)
    assert not mid.finished and mid.in_flight() == ["api/1/s1"]
    state = resume(h)
    after = h.handler.calls[len(before):]
    assert after == ["api/1/s1", "api/2/s2", "web/0/s0"]
    assert state.ok() and state.finished and state.resumes == 1
    # end state equals an uninterrupted run's
    clean = Harness(tmp_path / "clean", make_plan({"db": [{}, {}], "api": [{}, {}, {}], "web": [{}]},
                                                  deps={"web": ["db", "api"]}))
    ref = clean.run()
    assert {k: s.status for k, s in state.services.items()} == {k: s.status for k, s in ref.services.items()}
    assert sorted(s.status for s in state.steps.values()) == sorted(s.status for s in ref.steps.values())


def test_resume_after_kill_without_any_outcome_recorded(tmp_path):
    """SIGKILL: the journal ends with step_started (and maybe a torn line)."""
    h = Harness(tmp_path, crashing_plan(), parallel=1)
    with pytest.raises(Crash):
        h.run()
    path = h.run_dir / "journal.jsonl"
    lines = path.read_text().splitlines()
    while json.loads(lines[-1])["type"] != "step_started":
        lines.pop()
    path.write_text("\n".join(lines) + "\n" + '{"seq": 99, "type": "step_succ')  # torn tail
    events = read_journal(path)
    assert events[-1].type == "step_started"
    state = resume(h)
    assert state.ok()
    assert h.handler.calls.count("api/0/s0") == 1 and h.handler.calls.count("api/1/s1") == 2
    types = [e.type for e in read_journal(path)]
    assert "step_interrupted" in types


def test_in_flight_step_with_rollback_policy_is_rolled_back(tmp_path):
    h = Harness(tmp_path, crashing_plan(on_failure="rollback"), parallel=1)
    with pytest.raises(Crash):
        h.run()
    state = resume(h)
    assert h.handler.rollbacks == ["api/1/s1", "api/0/s0"]
    assert state.services["api"].status == st.ROLLED_BACK
    assert state.services["db"].status == st.OK
    assert state.services["web"].status == st.SKIPPED
    assert h.handler.calls.count("api/1/s1") == 1  # not run again


def test_resume_refuses_a_finished_run_and_a_changed_plan(tmp_path):
    h = Harness(tmp_path, make_plan({"a": [{}]}))
    h.run()
    _, state = load_state(h.run_dir)
    with pytest.raises(BadInput, match="already finished"):
        check_resumable(state, h.plan)
    h2 = Harness(tmp_path / "two", crashing_plan(), parallel=1)
    with pytest.raises(Crash):
        h2.run()
    _, state2 = load_state(h2.run_dir)
    with pytest.raises(BadInput, match="plan changed"):
        check_resumable(state2, make_plan({"db": [{}]}))


def test_journal_is_append_only_json_lines_with_increasing_seq(tmp_path):
    h = Harness(tmp_path, make_plan({"a": [{}, {"fail_times": 1, "retries": 1, "retry_delay": 1}]}),
                fsync=True)
    h.run()
    events = read_journal(h.run_dir / "journal.jsonl")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("step_started") == 3 and "step_retried" in types
    assert events[0].data["plan_hash"]


def test_secrets_are_redacted_from_the_journal(tmp_path):
    secret = "hunter2-very-secret"
    h = Harness(tmp_path, make_plan({"a": [{"print": f"password is {secret}", "fail": True}]}))
    ctx = h.context()
    ctx.redactor.add(secret)
    h.context = lambda: ctx  # type: ignore[method-assign]
    from dr_orchestrator.execution.journal import Journal

    journal = Journal(h.run_dir / "journal.jsonl", h.clock, ctx.redactor, fsync=False)
    ex = Executor(h.plan, ctx, journal, h.registry)
    ex.start(runbook="x", plan_hash="h", note=f"secret {secret}")
    ex.execute()
    journal.close()
    text = (h.run_dir / "journal.jsonl").read_text()
    assert secret not in text and "***" in text
    log = (h.run_dir / "output" / "a__0__s0.log").read_text()
    assert secret not in log and "password is ***" in log


def test_lock_excludes_a_second_run_and_takes_over_a_dead_ones(tmp_path):
    path = tmp_path / "locks" / "plan.lock"
    first = PlanLock(path, "run-1")
    first.acquire()
    with pytest.raises(LockHeld, match="run-1"):
        PlanLock(path, "run-2").acquire()
    first.release()
    assert not path.exists()
    # a lock left by a process that died is stale
    dead = subprocess.Popen(["true"])
    dead.wait()
    path.write_text(json.dumps({"run_id": "run-0", "pid": dead.pid, "host": socket.gethostname(),
                                "heartbeat": 0}))
    second = PlanLock(path, "run-3")
    second.acquire()
    assert second.took_over and second.took_over["run_id"] == "run-0"
    assert json.loads(path.read_text())["pid"] == os.getpid()
    second.release()


def test_lock_held_by_a_live_process_with_fresh_heartbeat(tmp_path):
    import time

    path = tmp_path / "plan.lock"
    path.write_text(json.dumps({"run_id": "other", "pid": os.getppid(), "host": socket.gethostname(),
                                "heartbeat": time.time()}))
    with pytest.raises(LockHeld):
        PlanLock(path, "mine").acquire()


def test_interrupt_in_one_service_leaves_the_others_resumable(tmp_path):
    plan = make_plan({"a": [{"hold": 0.05}, {"crash_on_call": 1}], "b": [{"hold": 0.2}, {}, {}]})
    h = Harness(tmp_path, plan, parallel=2)
    with pytest.raises(Crash):
        h.run()
    _, mid = load_state(h.run_dir)
    assert mid.services["b"].status == st.RUNNING  # not closed as aborted or failed
    assert "b/2/s2" not in h.handler.calls  # stopped at a step boundary
    state = resume(h)
    assert state.ok()
    assert h.handler.calls.count("b/0/s0") == 1 and h.handler.calls.count("b/2/s2") == 1


def test_mirror_ends_with_the_whole_journal(tmp_path):
    import threading
    import time

    from dr_orchestrator.execution.journal import Mirror

    class SlowBackend:
        url = "mem://slow"

        def __init__(self):
            self.objects: dict[str, bytes] = {}
            self.started = threading.Event()

        def put(self, key, data):
            self.started.set()
            time.sleep(0.05)
            self.objects[key] = data

        def close(self):
            pass

    src = tmp_path / "journal.jsonl"
    src.write_text("one\n")
    backend = SlowBackend()
    mirror = Mirror(backend, "r/journal.jsonl", src)
    mirror.poke()
    backend.started.wait(5)
    src.write_text("one\ntwo\n")  # written while the first upload is in flight
    mirror.poke()
    mirror.close()
    assert backend.objects["r/journal.jsonl"] == b"one\ntwo\n"


def test_unreachable_mirror_warns_once_and_never_fails(tmp_path):
    from dr_orchestrator.execution.journal import Mirror

    class Down:
        url = "s3://down"

        def put(self, key, data):
            raise OSError("connection refused")

        def close(self):
            pass

    warnings: list[str] = []
    src = tmp_path / "journal.jsonl"
    src.write_text("x\n")
    mirror = Mirror(Down(), "k", src, warn=warnings.append)
    for _ in range(3):
        mirror.poke()
    mirror.close()
    assert len(warnings) == 1 and "unreachable" in warnings[0]


def test_resume_does_not_rerun_a_tolerated_failure(tmp_path):
    plan = make_plan({"a": [{"fail": True, "on_failure": "continue"}, {"crash_on_call": 1}, {}]})
    h = Harness(tmp_path, plan)
    with pytest.raises(Crash):
        h.run()
    state = resume(h)
    assert h.handler.calls.count("a/0/s0") == 1
    assert state.services["a"].status == st.DEGRADED and state.finished


def test_resume_after_an_abort_starts_nothing_new(tmp_path):
    plan = make_plan({"a": [{"hold": 0.1, "fail": True}], "b": [{"hold": 0.5, "crash_on_call": 1}, {}], "c": [{}]},
                     deps={"c": ["a"]})
    h = Harness(tmp_path, plan, parallel=2)
    with pytest.raises(Crash):
        h.run()
    state = resume(h)
    assert state.services["a"].status == st.SVC_FAILED
    assert state.services["c"].status == st.SKIPPED
    assert "c/0/s0" not in h.handler.calls and not state.ok()
    assert h.handler.calls.count("b/0/s0") == 1 and "b/1/s1" not in h.handler.calls
    assert state.steps["b/0/s0"].status == st.INTERRUPTED and state.finished


def test_resume_in_the_middle_of_a_rollback_finishes_it(tmp_path):
    plan = make_plan({"a": [{}, {}, {"fail": True, "on_failure": "rollback"}]})
    h = Harness(tmp_path, plan)
    h.run()
    # cut the journal right after the first rollback event, as if killed there
    path = h.run_dir / "journal.jsonl"
    lines = path.read_text().splitlines()
    first_rb = next(i for i, x in enumerate(lines) if json.loads(x)["type"] == "step_rolled_back")
    path.write_text("\n".join(lines[: first_rb + 1]) + "\n")
    h.handler.rollbacks.clear()
    calls = len(h.handler.calls)
    state = resume(h)
    assert h.handler.rollbacks == ["a/0/s0"]  # only what was not undone yet
    assert len(h.handler.calls) == calls  # nothing re-run
    assert state.services["a"].status == st.ROLLED_BACK


def test_resume_kills_the_process_group_a_killed_run_left_behind(tmp_path):
    import time

    from dr_orchestrator.execution.steps.procs import process_identity

    h = Harness(tmp_path, crashing_plan(), parallel=1)
    with pytest.raises(Crash):
        h.run()
    path = h.run_dir / "journal.jsonl"
    lines = path.read_text().splitlines()
    while json.loads(lines[-1])["type"] != "step_started":
        lines.pop()
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    record = {"seq": 9999, "type": "step_process", "t": 1.0, "ts": 1.0, "step": "api/1/s1", "service": "api",
              "pgid": orphan.pid, "started": process_identity(orphan.pid), "host": socket.gethostname()}
    path.write_text("\n".join([*lines, json.dumps(record)]) + "\n")
    state = resume(h)
    assert state.ok()
    deadline = time.monotonic() + 5
    while orphan.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert orphan.poll() is not None  # killed before the step ran again
    assert any("killed process group" in w for w in state.warnings)


def test_a_reused_pid_is_not_killed():
    from dr_orchestrator.execution.steps.procs import kill_orphan_group, process_identity

    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert not kill_orphan_group(proc.pid, (process_identity(proc.pid) or 0) - 100)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
