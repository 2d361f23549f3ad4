"""`dro validate` and `dro schema`: check a runbook, export the language's JSON Schema."""

from __future__ import annotations

import typer

from dr_orchestrator.cli import common
from dr_orchestrator.cli.common import print_json, render_issues
from dr_orchestrator.errors import BadInput, ValidationFailed


def register(app: typer.Typer) -> None:
    """Add `validate` and `schema` to the root app."""

    @app.command("validate")
    def validate_cmd(
        runbook: str = typer.Argument(..., help="runbook YAML file"),
        strict: bool = typer.Option(False, "--strict",
                                    help="treat warnings (e.g. an estimate over an RTO) as errors"),
        fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    ) -> None:
        """Check a runbook: syntax, types, references, cycles, schedules vs RPO, secrets, RTO.

        Reports every problem with file:line:column and a hint; exit code 2 when there is
        an error. Nothing is run or changed.
        """
        from dr_orchestrator.app import runbook as app_runbook

        if fmt not in ("text", "json"):
            raise BadInput(f"unknown format {fmt!r}", "use --format text or --format json")
        from dr_orchestrator.gcpause import gc_paused

        with gc_paused():  # a one-shot command over a big object graph: see gcpause
            report = app_runbook.validate(runbook, strict=strict)
        # Errors leave through a DRError so main() prints them and exits 2.
        if fmt == "json":
            print_json(report.to_dict())
            if not report.ok:
                raise BadInput(report.summary(), "the issues are in the JSON document on stdout")
        elif not report.ok:
            raise ValidationFailed(report.issues, report.summary())
        else:
            render_issues(report.issues)
            common.console.print(report.summary(), highlight=False, markup=False, soft_wrap=True)

    @app.command("schema")
    def schema_cmd(
        kind: str = typer.Option("runbook", "--kind", help="runbook | fragment (included files) | playbook"),
    ) -> None:
        """Print the JSON Schema of the runbook language (for editors: yaml-language-server)."""
        from dr_orchestrator.app import runbook as app_runbook

        print_json(app_runbook.schema(kind))
