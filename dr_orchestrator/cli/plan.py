"""`dro plan` and `dro graph`: show what a failover/failback/rebuild would do, and when."""

from __future__ import annotations

import sys

import typer

from dr_orchestrator.cli import common
from dr_orchestrator.errors import ValidationFailed

# The use cases are imported inside the commands: `dro --help` and the other commands
# should not pay for the planner and the runbook models at start-up.


def register(app: typer.Typer) -> None:
    """Add `plan` and `graph` to the root app."""

    @app.command("plan")
    def plan_cmd(
        runbook: str = typer.Argument(..., help="runbook YAML file"),
        action: str = typer.Option("failover", "--action", "-a",
                                   help="failover | failback | rebuild"),
        service: list[str] = typer.Option(
            [], "--service", "-s",
            help="plan only this service and what it depends on (repeatable)"),
        fmt: str = typer.Option("table", "--format", "-f",
                                help="table | markdown | json | mermaid | dot"),
        strict: bool = typer.Option(False, "--strict",
                                    help="exit 2 when an estimate exceeds an RTO"),
        history: bool = typer.Option(True, "--history/--no-history",
                                     help="use step durations measured by recent drills (failover)"),
    ) -> None:
        """Plan an action: waves, steps, critical path, estimated recovery time vs RTO.

        Where drills have run (`dro history`), a failover plan estimates each step by the median
        of its measured durations in recent drills instead of the runbook's `estimate:`.
        """
        from dr_orchestrator.app import plan as plan_app
        from dr_orchestrator.gcpause import gc_paused
        from dr_orchestrator.planning.render import table_renderable

        plan_app.check_format(fmt, plan_app.FORMATS)
        with gc_paused():  # a one-shot command over a big object graph: see gcpause
            result = plan_app.plan(runbook, action, service, strict, use_history=history)
            if fmt == "table":
                common.console.print(table_renderable(result.plan))
            else:
                sys.stdout.write(plan_app.render(result.plan, fmt))
        if strict and result.issues:
            raise ValidationFailed(result.issues, f"{len(result.issues)} estimate(s) over an RTO")

    @app.command("graph")
    def graph_cmd(
        runbook: str = typer.Argument(..., help="runbook YAML file"),
        fmt: str = typer.Option("mermaid", "--format", "-f", help="mermaid | dot"),
        service: list[str] = typer.Option(
            [], "--service", "-s", help="only this service and what it depends on (repeatable)"),
    ) -> None:
        """Render the service dependency graph (mermaid or graphviz dot)."""
        from dr_orchestrator.app import plan as plan_app

        plan_app.check_format(fmt, plan_app.GRAPH_FORMATS)
        sys.stdout.write(plan_app.render(plan_app.graph(runbook, service), fmt, graph=True))
