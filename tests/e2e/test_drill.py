"""`dro drill` end to end on a private copy of the quickstart shop (local processes, local storage)."""

from __future__ import annotations

import signal
import subprocess
import time

import junitparser
import pytest

from tests.e2e.shop import DRO, make_shop, port_open, report_json

DRILL_API, DRILL_WEB = 29081, 29082


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return make_shop(tmp_path_factory.mktemp("shop"))


def _no_drill_leftovers(shop) -> None:
    assert not shop.drill_dir.exists(), f"drill target left behind: {list(shop.drill_dir.rglob('*'))[:5]}"
    assert not port_open(DRILL_API) and not port_open(DRILL_WEB), "a drill process is still serving"


def test_drill_passes_and_reports(shop, tmp_path):
    out = shop.dro("drill", "RUNBOOK", "--report-dir", str(tmp_path / "r"), "--auto-approve")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASSED" in out.stdout
    data = report_json(tmp_path / "r")
    assert data["passed"] is True
    assert {o["subject"] for o in data["objectives"]} == {"database", "api", "web", "plan", "appdb", "uploads"}
    junit = junitparser.JUnitXml.fromfile(str(tmp_path / "r" / "junit.xml"))
    cases = {(c.classname, c.name) for s in junit for c in s}
    assert {("dro.services", "database"), ("dro.services", "api"), ("dro.services", "web"),
            ("dro.objectives.rpo", "RPO appdb"), ("dro.objectives.rto", "RTO plan")} <= cases
    _no_drill_leftovers(shop)
    # Production was never touched: nothing was restored into the recovery site's production paths.
    assert not (shop.dir / ".dro-demo" / "recovery").exists()
    hist = shop.dro("history", "RUNBOOK", "--json")
    assert hist.returncode == 0 and any(r["passed"] for r in __import__("json").loads(hist.stdout))


def test_failed_check_still_cleans_up_and_exits_1(shop, tmp_path):
    def break_web(data):
        check = data["services"]["web"]["failover"][1]
        check["expect_body"] = "text the shop never shows"
        check["deadline"] = "3s"

    runbook = shop.variant("broken-web", break_web)
    out = shop.dro("drill", "RUNBOOK", "--report-dir", str(tmp_path / "r"), runbook=runbook)
    assert out.returncode == 1, out.stdout + out.stderr
    data = report_json(tmp_path / "r")
    failed = [s for s in data["steps"] if s["status"] == "failed"]
    assert [f"{s['service']}/{s['name']}" for s in failed] == ["web/shop-is-up"]
    assert all(c["ok"] for c in data["cleanup"]) and len(data["cleanup"]) >= 3
    _no_drill_leftovers(shop)


def test_rto_miss_exits_1_and_says_which_service_by_how_much(shop, tmp_path):
    def tight_api(data):
        # The miss must not depend on the machine's speed: a 2 s wait against a 1 s RTO always misses.
        data["services"]["api"]["rto"] = "1s"
        data["services"]["api"]["failover"].insert(0, {"name": "settle", "kind": "wait", "duration": "2s",
                                                       "estimate": "2s"})

    runbook = shop.variant("tight-rto", tight_api)
    out = shop.dro("drill", "RUNBOOK", "--report-dir", str(tmp_path / "r"), runbook=runbook)
    assert out.returncode == 1, out.stdout + out.stderr
    data = report_json(tmp_path / "r")
    missed = [o for o in data["objectives"] if not o["ok"]]
    assert [o["subject"] for o in missed] == ["api"]
    by = -missed[0]["margin_s"]
    assert by > 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "RTO api" in md and "missed by" in md
    assert "RTO api" in out.stdout and "MISSED by" in out.stdout
    junit = junitparser.JUnitXml.fromfile(str(tmp_path / "r" / "junit.xml"))
    failed = [c for s in junit for c in s if not c.is_passed]
    assert [c.name for c in failed] == ["RTO api"] and "missed by" in failed[0].result[0].message
    _no_drill_leftovers(shop)


def test_sigterm_mid_drill_cleans_up(shop, tmp_path):
    def slow_web(data):
        data["services"]["web"]["failover"].insert(0, {"name": "slow", "kind": "wait", "duration": "60s",
                                                       "estimate": "60s"})

    runbook = shop.variant("slow-web", slow_web)
    before = set(shop.runs())
    proc = subprocess.Popen([DRO, "drill", str(runbook), "--report-dir", str(tmp_path / "r")], env=shop.env,
                            cwd=shop.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the slow step runs (api is up by then)
            runs = [r for r in shop.runs() if r not in before]
            journal = runs[0] / "journal.jsonl" if runs else None
            if journal and journal.exists() and '"step":"web/0/slow"' in journal.read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the drill never reached its slow step")
        assert port_open(DRILL_API), "the drill's API should be running before the signal"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, output
    assert "SIGTERM" in output
    data = report_json(tmp_path / "r")
    assert any("SIGTERM" in w for w in data["warnings"])
    assert data["cleanup"] and all(c["ok"] for c in data["cleanup"])
    _no_drill_leftovers(shop)


def test_drill_refuses_production_targets_and_changes_nothing(shop):
    def no_paths(data):
        data["sites"]["recovery"]["drill"]["paths"] = {}

    runbook = shop.variant("unsafe", no_paths)
    before = set(shop.runs())
    out = shop.dro("drill", "RUNBOOK", runbook=runbook)
    assert out.returncode == 2
    assert "restore-db" in out.stderr and "restores into production path" in out.stderr
    assert "unsafe.yaml:" in out.stderr and "drill.paths" in out.stderr
    assert set(shop.runs()) == before, "a refused drill must not start a run"


def test_cleanup_of_a_crashed_drill(shop, tmp_path):
    """A drill killed with SIGKILL leaves its targets; `dro drill --cleanup RUN_ID` removes them."""
    def slow_web(data):
        data["services"]["web"]["failover"].insert(0, {"name": "slow", "kind": "wait", "duration": "60s"})

    runbook = shop.variant("crash", slow_web)
    before = set(shop.runs())
    proc = subprocess.Popen([DRO, "drill", str(runbook)], env=shop.env, cwd=shop.dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = [r for r in shop.runs() if r not in before]
            if runs and (runs[0] / "journal.jsonl").exists() and \
                    '"step":"web/0/slow"' in (runs[0] / "journal.jsonl").read_text():
                break
            time.sleep(0.2)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_id = runs[0].name
    assert shop.drill_dir.exists(), "SIGKILL leaves the drill targets behind"
    assert port_open(DRILL_API), "and the API the killed drill started"
    out = shop.dro("drill", "--cleanup", run_id)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "teardown" in out.stdout  # the rollback steps of its completed steps ran (stop the API)
    _no_drill_leftovers(shop)
