"""Reports from a journal: Markdown, HTML with an SVG timeline, JSON, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import junitparser

from dr_orchestrator.execution.events import Event
from dr_orchestrator.execution.state import RunState
from dr_orchestrator.reporting import Objective, build_report, render_html, render_junit, render_markdown, write_reports
from dr_orchestrator.reporting.timeline import render_svg


def _state(api_step_s: float = 3.0, fail_web: bool = False) -> RunState:
    """db (2 steps) -> api (1 step) -> web (1 step); api's RTO is 5 s, plan RTO 10 s."""
    services = [
        {"name": "db", "wave": 0, "rto_s": 20.0, "steps": [
            {"key": "db/0", "name": "restore", "kind": "restore"}, {"key": "db/1", "name": "check", "kind": "check"}]},
        {"name": "api", "wave": 1, "rto_s": 5.0, "steps": [{"key": "api/0", "name": "start <api>", "kind": "shell"}]},
        {"name": "web", "wave": 2, "rto_s": None, "steps": [{"key": "web/0", "name": "probe", "kind": "check"}]},
    ]
    evs = [Event("run_started", 0.0, 1_700_000_000.0, 1, {"run_id": "r1", "action": "failover",
                                                          "runbook": "rb.yaml", "rto_s": 10.0, "services": services})]
    t = 0.0

    def add(kind: str, **data: object) -> None:
        evs.append(Event(kind, t, 1_700_000_000.0 + t, len(evs) + 1, dict(data)))

    add("service_started", service="db")
    add("step_started", service="db", step="db/0", attempt=1)
    t = 1.0
    add("step_succeeded", service="db", step="db/0")
    add("step_started", service="db", step="db/1", attempt=1)
    t = 1.5
    add("step_succeeded", service="db", step="db/1")
    add("service_finished", service="db", status="ok")
    add("service_started", service="api")
    add("step_started", service="api", step="api/0", attempt=1)
    t = 1.5 + api_step_s
    add("step_succeeded", service="api", step="api/0")
    add("service_finished", service="api", status="ok")
    add("service_started", service="web")
    add("step_started", service="web", step="web/0", attempt=1)
    t += 0.5
    if fail_web:
        add("step_failed", service="web", step="web/0", error="HTTP 503 from http://127.0.0.1:8080/")
        add("service_finished", service="web", status="failed")
    else:
        add("step_succeeded", service="web", step="web/0")
        add("service_finished", service="web", status="ok")
    ok = not fail_web and 1.5 + api_step_s <= 5.0
    add("run_finished", status="ok" if ok else "failed", ok=ok)
    return RunState.from_events(evs)


def test_passing_run_reports_pass_everywhere(tmp_path):
    report = build_report(_state(), rpo=[Objective("RPO", "appdata", 900.0, 120.0, "snapshot age")])
    assert report.passed
    paths = write_reports(report, tmp_path)
    assert set(paths) == {"md", "html", "json", "xml"}
    suite = junitparser.JUnitXml.fromfile(str(paths["xml"]))
    cases = [c for s in suite for c in s]
    names = {(c.classname, c.name) for c in cases}
    assert ("dro.services", "api") in names and ("dro.objectives.rpo", "RPO appdata") in names
    assert ("dro.objectives.rto", "RTO plan") in names
    assert all(c.is_passed for c in cases)
    data = json.loads(paths["json"].read_text())
    assert data["passed"] is True and len(data["steps"]) == 4


def test_rto_miss_names_the_service_and_by_how_much():
    report = build_report(_state(api_step_s=6.0))  # api recovers at 7.5 s, RTO 5 s
    assert not report.passed
    assert [(o.subject, round(-(o.margin_s or 0), 2)) for o in report.missed] == [("api", 2.5)]
    md = render_markdown(report)
    assert "RTO api" in md and "missed by **2.50s**" in md
    junit = junitparser.JUnitXml.fromstring(render_junit(report))
    failed = [c for s in junit for c in s if not c.is_passed]
    assert [c.name for c in failed] == ["RTO api"]
    assert "missed by 2.50s" in failed[0].result[0].message


def test_failed_step_is_a_failed_service_case_with_the_error():
    report = build_report(_state(fail_web=True))
    junit = junitparser.JUnitXml.fromstring(render_junit(report))
    failed = {c.name: c for s in junit for c in s if not c.is_passed}
    assert "web" in failed and "HTTP 503" in failed["web"].result[0].text
    assert "HTTP 503" in render_markdown(report)


def test_svg_has_one_bar_per_step_and_rto_lines():
    report = build_report(_state())
    svg = ET.fromstring(render_svg(report))
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in svg.iter(f"{ns}rect") if r.get("class") == "bar"]
    assert sorted(b.get("data-step") for b in bars) == ["api/0", "db/0", "db/1", "web/0"]
    lines = [el.get("class") for el in svg.iter(f"{ns}line")]
    assert "rto" in lines and lines.count("svc-rto") == 2  # db and api have an RTO, web none
    # Bars are placed in time: api's bar starts after db's last bar ends.
    x = {b.get("data-step"): float(b.get("x")) for b in bars}
    assert x["db/0"] < x["db/1"] < x["api/0"] < x["web/0"]


def test_html_escapes_runbook_values():
    report = build_report(_state())
    html = render_html(report)
    assert "start &lt;api&gt;" in html and "start <api>" not in html
    assert html.count('class="bar"') == 4
