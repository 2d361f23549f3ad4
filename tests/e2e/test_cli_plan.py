"""`dro plan` and `dro graph` as a user runs them: the real console script on real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "runbooks" / "quickstart.yaml"

# db (2m30s) and cache (1m) first; api (1m) after both, so it is recovered at 3m30s, over its
# 3m RTO; web (20s) last, at 3m50s, within the runbook's 10m.
RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata:
  name: e2e-plan
rto: 10m
sites:
  primary:
    provider: local
    role: primary
    storage: file://./primary
  recovery:
    provider: local
    role: recovery
    storage: file://./recovery
services:
  db:
    site: primary
    rto: 5m
    failover:
      - name: promote
        kind: shell
        command: [echo, promote]
        estimate: 2m
      - name: settle
        kind: wait
        duration: 30s
    failback:
      - name: resync
        kind: shell
        command: [echo, resync]
        estimate: 10m
  cache:
    site: primary
    failover:
      - name: warm
        kind: shell
        command: [echo, warm]
        estimate: 1m
  api:
    site: primary
    depends_on: [db, cache]
    rto: 3m
    failover:
      - name: deploy
        kind: shell
        command: [echo, deploy]
        estimate: 1m
  web:
    site: primary
    depends_on: [api]
    failover:
      - name: switch-dns
        kind: shell
        command: [echo, dns]
        estimate: 20s
"""


def dro(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dro")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "dr_orchestrator.cli.main"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, "COLUMNS": "160"})


@pytest.fixture()
def runbook(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(RUNBOOK)
    return path


def line_of(text: str, needle: str, after: str) -> int:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == after)
    return next(i for i in range(start, len(lines)) if lines[i].strip().startswith(needle)) + 1


def test_plan_table_shows_waves_steps_critical_path_and_rto(runbook: Path):
    res = dro("plan", str(runbook))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "failover plan: 4 service(s) in 3 wave(s)" in out
    assert "estimated total 3m50s" in out and "runbook RTO 10m OK" in out
    assert re.search(r"1\. promote\s+shell\s+2m\s+0s", out)  # step: kind, estimate, start
    assert re.search(r"2\. settle\s+wait\s+30s\s+2m", out)
    assert re.search(r"\* api .* 3m30s\s+3m\s+OVER", out)
    assert re.search(r"\* db .* 2m30s\s+5m\s+OK", out)
    assert "critical path: db -> api -> web (3m50s)" in out
    assert "over its RTO of 3m" in out


def test_plan_json_is_machine_readable(runbook: Path):
    res = dro("plan", str(runbook), "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [w["services"] for w in data["waves"]] == [["db", "cache"], ["api"], ["web"]]
    assert data["critical_path"] == ["db", "api", "web"]
    assert data["estimated_total_s"] == 230.0 and data["rto_s"] == 600.0
    assert data["services"]["api"]["finish_s"] == 210.0 and data["services"]["api"]["rto_ok"] is False
    assert [s["name"] for s in data["services"]["db"]["steps"]] == ["promote", "settle"]


def test_partial_plan_with_service(runbook: Path):
    res = dro("plan", str(runbook), "--service", "api", "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(data["services"]) == {"db", "cache", "api"}
    assert data["requested"] == ["api"]
    res = dro("plan", str(runbook), "-s", "cache", "-s", "db", "--format", "json")
    assert set(json.loads(res.stdout)["services"]) == {"cache", "db"}


def test_failback_uses_its_own_steps(runbook: Path):
    res = dro("plan", str(runbook), "--action", "failback", "--format", "markdown")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("# Failback plan")
    assert "1. resync [shell] 10m" in res.stdout
    assert "| 0 | **db** \\* | 10m | 0s | 10m | 5m | OVER |" in res.stdout


def test_strict_fails_with_the_position_of_the_rto(runbook: Path):
    res = dro("plan", str(runbook), "--strict", "--format", "json")
    assert res.returncode == 2
    json.loads(res.stdout)  # the plan is still printed
    line = line_of(RUNBOOK, "rto:", after="api:")
    assert f"plan.yaml:{line}:" in res.stderr
    assert "estimated recovery of service 'api' takes 3m30s, over its RTO of 3m" in res.stderr


def test_mermaid_and_dot(runbook: Path):
    mermaid = dro("plan", str(runbook), "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR")
    for edge in ("svc_db --> svc_api", "svc_cache --> svc_api", "svc_api --> svc_web"):
        assert edge in mermaid
    dot = dro("graph", str(runbook), "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph plan {")
    for edge in ('"db" -> "api"', '"cache" -> "api"', '"api" -> "web"'):
        assert edge in dot.stdout
    graph = dro("graph", str(runbook))
    assert graph.stdout.count("-->") == 3 and "wave" not in graph.stdout


def test_bad_arguments_exit_2(runbook: Path):
    for args in (["--action", "explode"], ["--format", "yaml"], ["--service", "nope"]):
        res = dro("plan", str(runbook), *args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert "error:" in res.stderr and "Traceback" not in res.stderr


def test_cycle_is_reported_not_planned(tmp_path: Path):
    path = tmp_path / "cycle.yaml"
    path.write_text(RUNBOOK.replace("  db:\n    site: primary\n",
                                    "  db:\n    site: primary\n    depends_on: [web]\n"))
    res = dro("plan", str(path))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert re.search(r"cycle.*(db|api|web) -> .*(db|api|web)", res.stderr.replace("\n", " "))


@pytest.mark.skipif(not QUICKSTART.exists(), reason="runbooks/quickstart.yaml not written yet")
def test_quickstart_plans_for_every_action():
    for action in ("failover", "failback", "rebuild"):
        res = dro("plan", str(QUICKSTART), "--action", action, "--format", "json", cwd=ROOT)
        assert res.returncode == 0, res.stderr
        data = json.loads(res.stdout)
        assert data["action"] == action
        assert data["services"] and data["critical_path"]
        planned = {n for w in data["waves"] for n in w["services"]}
        assert planned == set(data["services"])
        for name, svc in data["services"].items():
            for dep in svc["depends_on"]:
                assert data["services"][dep]["wave"] < svc["wave"], (name, dep)
    table = dro("plan", str(QUICKSTART), cwd=ROOT)
    assert table.returncode == 0 and "critical path:" in table.stdout


def test_a_big_plan_reaches_the_pipe_whole_before_the_quick_exit(tmp_path: Path):
    """Read-only commands leave with os._exit; a multi-megabyte plan must be flushed first."""
    services = "\n".join(
        f"  s{i:04d}:\n    site: primary\n" + (f"    depends_on: [s{i - 1:04d}]\n" if i else "")
        + f"    failover:\n      - {{name: start, kind: shell, command: [echo, {i}], estimate: 1s}}"
        for i in range(3000))
    path = tmp_path / "big.yaml"
    path.write_text(RUNBOOK.split("services:")[0] + "services:\n" + services + "\n")
    res = dro("plan", str(path), "--format", "json")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout) > 1_000_000
    plan = json.loads(res.stdout)  # the whole document: nothing lost to the exit
    assert len(plan["services"]) == 3000 and plan["critical_path"][-1] == "s2999"
    bad = dro("plan", str(path), "--format", "nope")
    assert bad.returncode == 2 and "unknown format" in bad.stderr
