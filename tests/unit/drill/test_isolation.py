"""Drill isolation: every step is pointed at drill targets, or the drill is refused before it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr_orchestrator.drill.cleanup import _check_path, clean_all
from dr_orchestrator.drill.isolation import DrillTarget, isolate
from dr_orchestrator.errors import BadInput, ValidationFailed
from dr_orchestrator.planning import build_plan
from dr_orchestrator.runbook import load_runbook

RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {name: iso}
variables: {root: /srv/app}
sites:
  main:
    role: primary
    storage: file:///tmp/iso/main
    hosts:
      db1: {address: 10.0.0.1, known_hosts: /dev/null}
  dr:
    role: recovery
    storage: file:///tmp/iso/dr
    hosts:
      db1: {address: 10.1.0.1, known_hosts: /dev/null}
      web1: {address: 10.1.0.2, known_hosts: /dev/null}
    drill:
      hosts:
        db1: {address: 10.9.0.1, known_hosts: /dev/null}
      paths:
        ${root}/data: /srv/drill/data
      ports: {5432: 15432, 8080: 18080}
      databases: {shop: shop_drill}
data_classes:
  files:
    rpo: 1h
    schedule: "0 * * * *"
    source_site: main
    replicate_to: [dr]
    sources: [{type: paths, path: /srv/app/data}]
  db:
    rpo: 1h
    schedule: "0 * * * *"
    source_site: main
    replicate_to: [dr]
    sources: [{type: postgres, dsn: "postgresql://app@10.0.0.1:5432/shop"}]
services:
  database:
    site: main
    failover:
      - {name: restore-files, kind: restore, data_class: files, host: db1, target: "${root}/data/files"}
      - {name: restore-db, kind: restore, data_class: db, target: "postgresql://app@10.1.0.1:5432/shop"}
      - name: start
        kind: ssh
        host: db1
        command: [systemctl, start, app, --data, "${root}/data", --port, "8080"]
        rollback: [systemctl, stop, app]
      - {name: up, kind: check, type: http, url: "http://10.9.0.1:8080/health", expect_status: 200}
      - {name: local, kind: shell, command: [ls, "${root}/data/files"]}
"""


def _load(tmp_path: Path, text: str = RUNBOOK):
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    return load_runbook(path)


def _steps(iso):
    return {s.name: s.spec for s in iso.plan.steps()}


def test_targets_are_mapped_and_recorded(tmp_path):
    rb = _load(tmp_path)
    iso = isolate(rb, build_plan(rb, "failover"))
    steps = _steps(iso)
    assert steps["restore-files"].target == "/srv/drill/data/files"
    assert steps["restore-db"].target == "postgresql://app@10.1.0.1:15432/shop_drill"
    assert steps["start"].command == ["systemctl", "start", "app", "--data", "/srv/drill/data", "--port", "18080"]
    assert steps["up"].url == "http://10.9.0.1:18080/health"
    assert steps["local"].command == ["ls", "/srv/drill/data/files"]
    assert steps["local"].env["DRO_DRILL"] == "1"
    # The drill runbook's recovery host db1 is the drill host; production stays untouched.
    assert iso.runbook.sites["dr"].hosts["db1"].address == "10.9.0.1"
    assert rb.sites["dr"].hosts["db1"].address == "10.1.0.1"
    assert {t.kind for t in iso.targets} == {"path", "database"}
    path_t = next(t for t in iso.targets if t.kind == "path")
    assert path_t.location == "/srv/drill/data" and path_t.host == "dr/db1"  # qualified: cleanup runs outside services
    db_t = next(t for t in iso.targets if t.kind == "database")
    assert db_t.location.endswith("/shop_drill")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("target: \"${root}/data/files\"", "target: /etc/app", "restores into production path '/etc/app'"),
    ("5432/shop\"}", "5432/orders\"}", "restores into production database 'orders'"),
    ("host: db1\n        command: [systemctl", "host: web1\n        command: [systemctl",
     "runs on production host 'web1'"),
])
def test_production_targets_are_refused_with_the_step_and_fix(tmp_path, old, new, message):
    assert old in RUNBOOK
    rb = _load(tmp_path, RUNBOOK.replace(old, new))
    with pytest.raises(ValidationFailed) as err:
        isolate(rb, build_plan(rb, "failover"))
    (issue,) = err.value.issues
    assert message in issue.message and issue.file.endswith("rb.yaml") and issue.line > 1
    assert "drill" in (issue.hint or "")


def test_terraform_steps_and_sites_without_drill_overrides_are_refused(tmp_path):
    text = RUNBOOK.replace("      - {name: local, kind: shell",
                           "      - {name: tf, kind: terraform, dir: infra}\n      - {name: local, kind: shell")
    rb = _load(tmp_path, text)
    with pytest.raises(ValidationFailed, match="drill step"):
        isolate(rb, build_plan(rb, "failover"))
    cut = text.index("    drill:")
    end = text.index("data_classes:")
    rb = _load(tmp_path, text[:cut] + text[end:])
    with pytest.raises(ValidationFailed) as err:
        isolate(rb, build_plan(rb, "failover"))
    assert "has no drill overrides" in err.value.issues[0].message


def test_rollback_steps_are_pointed_at_drill_targets_too(tmp_path):
    rb = _load(tmp_path, RUNBOOK.replace("rollback: [systemctl, stop, app]",
                                         "rollback: [rm, -f, \"${root}/data/pid\"]"))
    iso = isolate(rb, build_plan(rb, "failover"))
    (rollback,) = _steps(iso)["start"].rollback
    assert rollback.command == ["rm", "-f", "/srv/drill/data/pid"]


def test_cleanup_removes_targets_and_refuses_roots(tmp_path):
    target = tmp_path / "drill" / "data"
    (target / "x").mkdir(parents=True)
    (target / "x" / "f").write_text("drill data")
    results = clean_all([DrillTarget("path", "dr", str(target))])
    assert results[0].ok and not target.exists()
    for bad in ("/", "/tmp", "/srv", "relative/path"):
        with pytest.raises(BadInput):
            _check_path(bad)
    failed = clean_all([DrillTarget("path", "dr", "/etc")])
    assert not failed[0].ok and "too close to the filesystem root" in (failed[0].error or "")


def test_bare_ports_in_string_commands_and_check_hosts(tmp_path):
    text = RUNBOOK.replace("      - {name: local, kind: shell, command: [ls, \"${root}/data/files\"]}",
                           "      - {name: local, kind: shell, command: \"curl -s localhost:8080 && serve --port 8080"
                           " --workers 18080\"}\n"
                           "      - {name: prod-check, kind: check, type: command, host: web1, command: [\"true\"]}")
    rb = _load(tmp_path, text)
    with pytest.raises(ValidationFailed) as err:
        isolate(rb, build_plan(rb, "failover"))
    assert [i.message.split("step ")[1].split(" ")[0] for i in err.value.issues] == ["'prod-check'"]
    rb = _load(tmp_path, text.replace("host: web1, command: [\"true\"]", "host: db1, command: [\"true\"]"))
    cmd = _steps(isolate(rb, build_plan(rb, "failover")))["local"].command
    assert cmd == "curl -s localhost:18080 && serve --port 18080 --workers 18080"
