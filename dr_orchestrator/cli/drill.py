"""`dro drill` and `dro history`: prove the failover plan in isolation, keep the evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dr_orchestrator.cli import common
from dr_orchestrator.cli.common import print_json


def _fmt(seconds: float | None) -> str:
    from dr_orchestrator.reporting.render import fmt_duration

    return fmt_duration(seconds)


def _summary(result: Any) -> None:
    r = result.report
    verdict = "[bold green]PASSED[/]" if result.ok else "[bold red]FAILED[/]"
    common.console.print(f"\nDrill {result.run_id}: {verdict} in {_fmt(r.duration_s)}")
    table = Table("objective", "target", "achieved", "result", title="Objectives", title_justify="left")
    for o in r.objectives:
        achieved = _fmt(o.achieved_s) if o.achieved_s is not None else f"— ({o.detail})"
        result_txt = "[green]held[/]" if o.ok else (
            f"[red]MISSED by {_fmt(-(o.margin_s or 0))}[/]" if o.margin_s is not None else "[red]MISSED[/]")
        table.add_row(f"{o.kind} {o.subject}", _fmt(o.target_s), achieved, result_txt)
    common.console.print(table)
    for s in r.failed_steps:
        common.console.print(f"[red]failed step[/] {s.service}/{s.name}: {s.error or s.status}", highlight=False)
    for w in r.warnings:
        common.console.print(f"[yellow]warning:[/] {w}", highlight=False)
    cleaned = [c for c in result.cleanup if c.ok]
    common.console.print(f"cleanup: {len(cleaned)}/{len(result.cleanup)} drill target(s) removed", highlight=False)
    for c in result.cleanup:
        if not c.ok:
            common.console.print(f"  [red]not removed[/] {c.target.describe()}: {c.error}  "
                                 f"(retry: dro drill --cleanup {result.run_id})", highlight=False)
    common.console.print("reports:", highlight=False)
    for fmt, path in result.reports.items():
        common.console.print(f"  {fmt:5} {path}", highlight=False)
    if result.history_key:
        common.console.print(f"history: appended {result.history_key}   (dro history RUNBOOK)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `dro drill` and `dro history`."""

    @app.command("drill")
    def drill_cmd(
        runbook: str = typer.Argument(None, help="Runbook YAML file (not needed with --cleanup)."),
        service: list[str] = typer.Option([], "--service", "-s",
                                          help="Drill only these services (and what they depend on)."),
        report_dir: Path = typer.Option(None, "--report-dir",
                                        help="Write report.md, report.html, report.json, junit.xml here "
                                             "(default: the run's directory)."),
        state_dir: Path = typer.Option(None, "--state-dir", help="Where runs are kept (default .dro/ beside "
                                                                  "the runbook, or $DRO_STATE_DIR)."),
        parallel: int = typer.Option(4, "--parallel", help="Services of one wave run this many at a time."),
        auto_approve: bool = typer.Option(False, "--auto-approve", help="Answer approval steps yes (CI)."),
        cleanup: str = typer.Option(None, "--cleanup", metavar="RUN_ID",
                                    help="Only clean up the drill targets a crashed drill RUN_ID left."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Run the failover plan in isolation (drill targets only), check every objective, always clean up.

        Exit 0: every step passed and every RTO/RPO held. Exit 1: a step failed or an objective was missed.
        Exit 2: invalid input, including a drill step that would touch a production target.

        Example:  dro drill runbooks/quickstart.yaml --report-dir drill-report --auto-approve
        """
        from dr_orchestrator.app import drill as app
        from dr_orchestrator.errors import BadInput, ObjectiveMissed

        if cleanup:
            results = app.cleanup_run(cleanup, state_dir)
            if as_json:
                print_json({"run_id": cleanup, "cleanup": [r.to_dict() for r in results]})
            for r in results:
                mark = "[green]removed[/]" if r.ok else f"[red]failed[/] {r.error}"
                out = common.err_console if as_json else common.console
                out.print(f"{mark} {r.target.describe()}", highlight=False)
            if not all(r.ok for r in results):
                raise ObjectiveMissed("some drill targets could not be removed", "see the errors above")
            return
        if not runbook:
            raise BadInput("no runbook given", "usage: dro drill RUNBOOK  (or dro drill --cleanup RUN_ID)")
        from dr_orchestrator.execution.progress import make_progress

        progress: list[Any] = []

        def attach(state: Any) -> None:
            out = common.err_console if as_json else common.console
            progress.append(make_progress(out, state, out.is_terminal))

        opts = app.DrillOptions(services=tuple(service), report_dir=report_dir, state_dir=state_dir,
                                parallel=parallel, auto_approve=auto_approve, on_state=attach)

        class _Fanout:
            def __call__(self, event: Any) -> None:
                for p in progress:
                    p(event)

        opts.listeners.append(_Fanout())
        try:
            result = app.drill(runbook, opts)
        finally:
            for p in progress:
                p.close()
        if as_json:
            data = result.report.to_dict()
            data["reports"] = {k: str(v) for k, v in result.reports.items()}
            data["history"] = result.history_key
            print_json(data)
        else:
            _summary(result)
        if not result.ok:
            missed = [f"{o.kind} {o.subject}" for o in result.report.missed]
            failed = [f"{s.service}/{s.name}" for s in result.report.failed_steps]
            why = "; ".join(x for x in (f"failed steps: {', '.join(failed)}" if failed else "",
                                        f"objectives missed: {', '.join(missed)}" if missed else "",
                                        *result.preflight) if x)
            raise ObjectiveMissed(f"drill failed: {why or 'cleanup incomplete'}",
                                  f"open {result.reports.get('html')} for the timeline")

    @app.command("history")
    def history_cmd(
        runbook: str = typer.Argument(..., help="Runbook YAML file."),
        limit: int = typer.Option(20, "--limit", help="Show the most recent N drills."),
        as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
    ) -> None:
        """Achieved RTO/RPO of past drills, per service, oldest first."""
        from dr_orchestrator.app import drill as app

        records = app.load_history(runbook, limit)
        if as_json:
            print_json([r.__dict__ for r in records])
            return
        if not records:
            common.console.print("no drills recorded yet — run `dro drill RUNBOOK`")
            return
        services = sorted({s for r in records for s in r.services})
        table = Table("time", "run", "result", "total", *services, title="Drill history (recovery time per service)")
        for r in records:
            cells = []
            for s in services:
                svc = r.services.get(s) or {}
                rec, rto = svc.get("recovery_s"), svc.get("rto_s")
                mark = "" if rto is None or rec is None else (" ✔" if rec <= rto else " ✘")
                cells.append(_fmt(rec) + mark if rec is not None else "—")
            table.add_row(r.time, r.run_id[-6:], "[green]pass[/]" if r.passed else "[red]fail[/]",
                          _fmt(r.duration_s), *cells)
        common.console.print(table)
