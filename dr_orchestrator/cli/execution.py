"""`dro failover | rebuild | failback | resume | runs | show`.

Parsing and rendering only; app/execute.py does the work. Every run prints the summary
table at the end and exits 1 when a step failed or an RTO was missed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from dr_orchestrator.cli import common
from dr_orchestrator.cli.common import print_json


def _finish(result: Any, as_json: bool) -> None:
    from dr_orchestrator.execution.summary import dry_run_renderable, summary_renderable

    for warning in result.warnings:
        common.err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if result.dry_run is not None:
        if as_json:
            print_json({"dry_run": True, "steps": result.dry_run})
        else:
            common.console.print(dry_run_renderable(result.dry_run))
        return
    state = result.state
    if as_json:
        data = state.summary()
        data["run_dir"] = str(result.run_dir)
        print_json(data)
    else:
        common.console.print(summary_renderable(state))
        common.console.print(f"journal: {result.run_dir}/journal.jsonl   (dro show {result.run_id})",
                             highlight=False)
    if not state.ok():
        raise _failure(state)


def _failure(state: Any) -> Exception:
    """A DRError so main() prints why and exits 1 (typer.Exit codes are lost in main)."""
    from dr_orchestrator.errors import ObjectiveMissed, StepFailed

    failed = state.failed_steps()
    if failed:
        return StepFailed(f"{len(failed)} step(s) failed, first: {failed[0].key}",
                          f"see `dro show {state.run_id}` for every step; fix the cause and run again")
    missed = [s.name for s in state.services.values() if state.service_rto_ok(s.name) is False]
    not_recovered = [s.name for s in state.services.values() if s.status not in ("ok",)]
    if not_recovered:
        return StepFailed(f"service(s) not recovered: {', '.join(not_recovered)}",
                          f"see `dro show {state.run_id}`")
    what = ", ".join(missed) if missed else "the whole plan"
    return ObjectiveMissed(f"RTO missed: {what}", "the summary above shows by how much")


def _run(runbook: str | None, run_id: str | None, as_json: bool, **kw: Any) -> None:
    from dr_orchestrator.app import execute as app
    from dr_orchestrator.execution.progress import LiveProgress, make_progress

    progress: list[Any] = []

    def attach(state: Any) -> None:
        live = common.console.is_terminal and not as_json
        shown = make_progress(common.err_console if as_json else common.console, state, live)
        progress.append(shown)
        opts.listeners.append(shown)
        if isinstance(shown, LiveProgress):
            opts.prompt = shown.ask

    opts = app.ExecuteOptions(on_state=None if kw.get("dry_run") else attach, **kw)
    try:
        if run_id is not None:
            result = app.resume(run_id, opts)
        else:
            assert runbook is not None
            result = app.execute(runbook, opts)
    finally:
        for p in progress:
            p.close()
    _finish(result, as_json)


def register(app: typer.Typer) -> None:
    state_opt = typer.Option(None, "--state-dir",
                             help="where journals live (default: .dro next to the runbook, or $DRO_STATE_DIR)")

    @app.command("failover")
    def failover(
        runbook: str = typer.Argument(..., help="runbook YAML file"),
        service: list[str] = typer.Option([], "--service", "-s", help="only this service (+ its dependencies)"),
        from_site: str = typer.Option(None, "--from", help="fail over the services of this site"),
        to_site: str = typer.Option(None, "--to", help="recover at this site (default: the recovery site)"),
        parallel: int = typer.Option(4, "--parallel", "-p", min=1, help="services run at once within a wave"),
        auto_approve: bool = typer.Option(False, "--auto-approve", help="approve approval steps (CI)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print what would run; touch nothing"),
        as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
        state_dir: Path = state_opt,
    ) -> None:
        """Bring services up at the recovery site, in dependency order, timed against RTO."""
        _run(runbook, None, as_json, action="failover", services=tuple(service), from_site=from_site,
             to_site=to_site, parallel=parallel, auto_approve=auto_approve, dry_run=dry_run,
             state_dir=state_dir)

    @app.command("rebuild")
    def rebuild(
        runbook: str = typer.Argument(..., help="runbook YAML file"),
        host: str = typer.Option(..., "--host", help="the host to rebuild (HOST or SITE/HOST)"),
        parallel: int = typer.Option(4, "--parallel", "-p", min=1),
        auto_approve: bool = typer.Option(False, "--auto-approve"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print what would run; touch nothing"),
        as_json: bool = typer.Option(False, "--json"),
        state_dir: Path = state_opt,
    ) -> None:
        """Rebuild one host from nothing but SSH: its services' rebuild steps, on that host only."""
        _run(runbook, None, as_json, action="rebuild", rebuild_host=host, parallel=parallel,
             auto_approve=auto_approve, dry_run=dry_run, state_dir=state_dir)

    @app.command("failback")
    def failback(
        runbook: str = typer.Argument(..., help="runbook YAML file"),
        service: list[str] = typer.Option([], "--service", "-s"),
        parallel: int = typer.Option(4, "--parallel", "-p", min=1),
        auto_approve: bool = typer.Option(False, "--auto-approve"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print what would run; touch nothing"),
        as_json: bool = typer.Option(False, "--json"),
        state_dir: Path = state_opt,
    ) -> None:
        """Return to the primary site: the runbook's failback steps (quiesce, ship, restore, switch)."""
        _run(runbook, None, as_json, action="failback", services=tuple(service), parallel=parallel,
             auto_approve=auto_approve, dry_run=dry_run, state_dir=state_dir)

    @app.command("resume")
    def resume(
        run_id: str = typer.Argument(..., help="the run to continue (see `dro runs`)"),
        parallel: int = typer.Option(4, "--parallel", "-p", min=1),
        auto_approve: bool = typer.Option(False, "--auto-approve"),
        as_json: bool = typer.Option(False, "--json"),
        state_dir: Path = state_opt,
    ) -> None:
        """Continue an interrupted run: completed steps are not repeated."""
        _run(None, run_id, as_json, parallel=parallel, auto_approve=auto_approve, state_dir=state_dir)

    @app.command("runs")
    def runs(
        as_json: bool = typer.Option(False, "--json"),
        state_dir: Path = state_opt,
    ) -> None:
        """List past runs (from their journals)."""
        from dr_orchestrator.app.execute import list_runs
        from dr_orchestrator.execution.summary import runs_renderable

        found = list_runs(state_dir)
        if as_json:
            print_json(found)
        elif not found:
            common.console.print("no runs yet", highlight=False)
        else:
            common.console.print(runs_renderable(found))

    @app.command("show")
    def show(
        run_id: str = typer.Argument(...),
        as_json: bool = typer.Option(False, "--json"),
        state_dir: Path = state_opt,
    ) -> None:
        """Print one run: per-service summary and every step with its timing."""
        from dr_orchestrator.app.execute import show_run
        from dr_orchestrator.execution.summary import steps_renderable, summary_renderable

        state = show_run(run_id, state_dir)
        if as_json:
            print_json(state.summary())
        else:
            common.console.print(summary_renderable(state))
            common.console.print(steps_renderable(state))
            if not state.finished:
                common.console.print(f"run not finished: `dro resume {run_id}` continues it", highlight=False)
        sys.stdout.flush()
