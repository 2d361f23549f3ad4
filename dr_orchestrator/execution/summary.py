"""The summary every execution command prints at the end, and the dry-run listing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dr_orchestrator.execution.state import RunState
from dr_orchestrator.planning.model import format_seconds


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 60 else format_seconds(seconds)


def _verdict(ok: bool | None) -> Text:
    if ok is None:
        return Text("-")
    return Text("OK", style="green") if ok else Text("MISSED", style="bold red")


def summary_renderable(state: RunState) -> RenderableType:
    table = Table(title=f"dro {state.action} {state.run_id}: "
                        f"{'OK' if state.ok() else 'FAILED'}", title_justify="left")
    for col in ("service", "wave", "status", "recovery", "RTO", "RTO held", "RPO", "note"):
        table.add_column(col, no_wrap=col != "note")
    for svc in state.services.values():
        rpo = state.rpo_s(svc.name)
        failed = [state.steps[k] for k in svc.steps if state.steps[k].status in ("failed", "interrupted")]
        note = svc.reason or ""
        if failed and failed[0].error:
            note = f"{failed[0].name}: {failed[0].error}"
        status_style = "green" if svc.status == "ok" else ("yellow" if svc.status == "degraded" else "red")
        table.add_row(svc.name, str(svc.wave), Text(svc.status, style=status_style),
                      _dur(svc.recovery_s), _dur(svc.rto_s), _verdict(state.service_rto_ok(svc.name)),
                      _dur(rpo), Text(note[:160]))
    total = Text(f"whole run: {_dur(state.duration_s())}")
    if state.rto_s is not None:
        total.append(f" vs RTO {_dur(state.rto_s)} ")
        total.append_text(_verdict(state.rto_ok()))
    steps_failed = len(state.failed_steps())
    if steps_failed:
        total.append(f"  ·  {steps_failed} step(s) failed", style="red")
    notes = [Text(f"warning: {w}", style="yellow") for w in state.warnings]
    return Group(table, total, *notes)


def dry_run_renderable(items: list[dict[str, Any]]) -> RenderableType:
    table = Table(title="dry run: nothing will be executed", title_justify="left")
    for col in ("wave", "service", "step", "timeout", "retries", "on failure", "would run"):
        table.add_column(col, overflow="fold")
    for item in items:
        table.add_row(str(item["wave"]), item["service"], item["step"], _dur(item["timeout_s"]),
                      str(item["retries"]), item["on_failure"], Text(item["action"]))
    return table


def runs_renderable(runs: list[dict[str, Any]]) -> RenderableType:
    table = Table(title="runs", title_justify="left")
    for col in ("run id", "action", "started (UTC)", "status", "duration", "services"):
        table.add_column(col)
    for run in runs:
        started = dt.datetime.fromtimestamp(run["started"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S") \
            if run["started"] else "-"
        table.add_row(run["run_id"], run["action"], started, run["status"], _dur(run["duration_s"]),
                      str(run["services"]))
    return table


def steps_renderable(state: RunState) -> RenderableType:
    table = Table(title="steps", title_justify="left")
    for col in ("step", "kind", "status", "attempts", "start", "duration", "error"):
        table.add_column(col, overflow="fold")
    for rec in state.steps.values():
        table.add_row(rec.key, rec.kind, rec.status, str(rec.attempts), _dur(rec.started_t),
                      _dur(rec.duration_s), Text(rec.error or ""))
    return table
