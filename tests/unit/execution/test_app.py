"""The execute use case's pure parts: plan selection (--service, --from/--to, rebuild --host),
dry-run rendering, run listing."""

from __future__ import annotations

import pytest

from dr_orchestrator.app.execute import ExecuteOptions, describe_plan, execute, list_runs, make_plan
from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution.context import RunContext
from dr_orchestrator.execution.steps import default_registry
from dr_orchestrator.runbook import load_runbook

RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {{name: unit}}
variables: {{who: "a b; c"}}
sites:
  east: {{role: primary, storage: "file://{tmp}/east", hosts: {{web1: {{local: true}}, db1: {{local: true}}}}}}
  west: {{role: recovery, storage: "file://{tmp}/west", hosts: {{web1: {{local: true}}, db1: {{local: true}}}}}}
  north: {{role: primary, storage: "file://{tmp}/north"}}
services:
  db:
    site: east
    failover: [{{kind: shell, name: up, command: [echo, "${{who}}"]}}]
    rebuild:
      - {{kind: ssh, name: db-pkg, host: db1, command: [apt-get, install, -y, postgresql]}}
  web:
    site: east
    depends_on: [db]
    failover: [{{kind: ssh, name: start, host: web1, command: 'systemctl start "$who"'}}]
    rebuild:
      - {{kind: ssh, name: web-pkg, host: web1, command: [apt-get, install, -y, nginx]}}
      - {{kind: check, name: web-up, type: command, command: ["true"]}}
  other:
    site: north
    recovery_site: west
    failover: [{{kind: wait, name: pause, duration: 1s}}]
"""


@pytest.fixture()
def runbook_path(tmp_path):
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK.format(tmp=tmp_path))
    return path


def test_from_site_selects_its_services(runbook_path):
    rb = load_runbook(runbook_path)
    plan = make_plan(rb, ExecuteOptions(from_site="east", to_site="west"))
    assert set(plan.services) == {"db", "web"}
    with pytest.raises(BadInput, match="unknown site"):
        make_plan(rb, ExecuteOptions(from_site="nowhere"))
    with pytest.raises(BadInput, match="no service runs"):
        make_plan(rb, ExecuteOptions(from_site="west"))


def test_rebuild_host_keeps_only_that_hosts_steps(runbook_path):
    rb = load_runbook(runbook_path)
    plan = make_plan(rb, ExecuteOptions(action="rebuild", rebuild_host="web1"))
    assert list(plan.services) == ["web"]
    assert [s.name for s in plan.services["web"].steps] == ["web-pkg", "web-up"]
    assert plan.services["web"].depends_on == ()
    with pytest.raises(BadInput, match="no rebuild steps"):
        make_plan(rb, ExecuteOptions(action="rebuild", rebuild_host="ghost"))


def test_dry_run_renders_commands_and_hosts_without_running(runbook_path, tmp_path):
    rb = load_runbook(runbook_path)
    plan = make_plan(rb, ExecuteOptions(to_site="west"))
    ctx = RunContext(runbook=rb, plan=plan, site_override="west")
    items = describe_plan(plan, ctx, default_registry())
    by_step = {i["step"]: i["action"] for i in items}
    assert by_step["db/0/up"] == "local: echo 'a b; c'"
    assert by_step["web/0/start"] == "ssh west/web1: systemctl start \"$who\""
    assert by_step["other/0/pause"] == "wait 1s"
    result = execute(runbook_path, ExecuteOptions(dry_run=True, state_dir=tmp_path / "st"))
    assert len(result.dry_run) == 3 and not (tmp_path / "st").exists()
    assert list_runs(tmp_path / "st") == []


def test_a_second_run_of_the_same_plan_is_refused_and_leaves_nothing(runbook_path, tmp_path):
    from dr_orchestrator.errors import LockHeld
    from dr_orchestrator.execution.locks import PlanLock
    from dr_orchestrator.execution.resume import plan_hash

    plan = make_plan(load_runbook(runbook_path), ExecuteOptions(services=("other",)))
    state_dir = tmp_path / "st"
    held = PlanLock(state_dir / "locks" / f"{plan_hash(plan)}.lock", "running-run")
    held.acquire()
    try:
        with pytest.raises(LockHeld, match="running-run"):
            execute(runbook_path, ExecuteOptions(services=("other",), state_dir=state_dir, mirror=False))
        assert not (state_dir / "runs").exists()
    finally:
        held.release()
    done = execute(runbook_path, ExecuteOptions(services=("other",), state_dir=state_dir, mirror=False))
    assert done.state.ok() and [r["run_id"] for r in list_runs(state_dir)] == [done.run_id]
