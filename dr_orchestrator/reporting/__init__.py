"""Reports people read and CI systems parse, built from a run's journal."""

from dr_orchestrator.reporting.model import Objective, Report, build_report
from dr_orchestrator.reporting.render import (
    render_html,
    render_json,
    render_junit,
    render_markdown,
    write_reports,
)

__all__ = ["Objective", "Report", "build_report", "render_html", "render_json", "render_junit",
           "render_markdown", "write_reports"]
