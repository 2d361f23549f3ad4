"""Render a Report as Markdown (PR comments), single-file HTML, JSON and JUnit XML (CI)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from dr_orchestrator.reporting.model import Report
from dr_orchestrator.reporting.timeline import render_svg

TEMPLATES = Path(__file__).with_name("templates")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{sec:02d}s" if hours else f"{minutes}m{sec:02d}s"


def fmt_signed(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return ("+" if seconds >= 0 else "−") + fmt_duration(abs(seconds))


def _env(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                               autoescape=select_autoescape(["html.j2"]) if autoescape else False,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals.update(dur=fmt_duration, signed=fmt_signed)
    return env


def render_markdown(report: Report) -> str:
    return _env(False).get_template("report.md.j2").render(r=report)


def render_html(report: Report) -> str:
    return _env(True).get_template("report.html.j2").render(r=report, svg=render_svg(report))


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str) + "\n"


def render_junit(report: Report) -> str:
    """One test case per service (did it recover?) and one per objective (did it hold?)."""
    suite = ET.Element("testsuite", name=f"dro {report.action} {report.runbook}",
                       timestamp=report.started_at, time=f"{report.duration_s:.3f}")
    cases = 0
    failures = 0
    for svc in report.services:
        case = ET.SubElement(suite, "testcase", classname="dro.services", name=svc.name,
                             time=f"{svc.recovery_s or 0.0:.3f}")
        cases += 1
        bad_steps = [s for s in report.failed_steps if s.service == svc.name]
        if svc.status not in ("ok", "degraded") or bad_steps:
            failures += 1
            detail = "; ".join(f"{s.name}: {s.status} {s.error or ''}".strip() for s in bad_steps)
            ET.SubElement(case, "failure", message=f"service {svc.name} {svc.status}",
                          type="ServiceFailed").text = detail or (svc.reason or svc.status)
    for obj in report.objectives:
        case = ET.SubElement(suite, "testcase", classname=f"dro.objectives.{obj.kind.lower()}",
                             name=f"{obj.kind} {obj.subject}", time=f"{obj.achieved_s or 0.0:.3f}")
        cases += 1
        if not obj.ok:
            failures += 1
            if obj.achieved_s is None:
                msg = f"{obj.kind} {obj.subject} not achieved: {obj.detail}"
            else:
                msg = (f"{obj.kind} {obj.subject} missed by {fmt_duration(-(obj.margin_s or 0))}: "
                       f"{fmt_duration(obj.achieved_s)} against {fmt_duration(obj.target_s)}")
            ET.SubElement(case, "failure", message=msg, type="ObjectiveMissed").text = msg
    for c in report.cleanup:
        case = ET.SubElement(suite, "testcase", classname="dro.cleanup", name=str(c.get("target")))
        cases += 1
        if not c.get("ok"):
            failures += 1
            ET.SubElement(case, "failure", message="cleanup failed", type="CleanupFailed").text = str(c.get("error"))
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    root = ET.Element("testsuites", name="dr-orchestrator", tests=str(cases), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


RENDERERS = {"md": render_markdown, "html": render_html, "json": render_json, "xml": render_junit}


def write_reports(report: Report, directory: str | os.PathLike[str], stem: str = "report") -> dict[str, Path]:
    """Write report.md, report.html, report.json and junit.xml; return their paths by format."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    names = {"md": f"{stem}.md", "html": f"{stem}.html", "json": f"{stem}.json", "xml": "junit.xml"}
    paths: dict[str, Path] = {}
    for fmt, name in names.items():
        path = out / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(RENDERERS[fmt](report), encoding="utf-8")
        os.replace(tmp, path)
        paths[fmt] = path
    return paths
