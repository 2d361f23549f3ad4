"""Helpers shared by every command module: console, JSON output, error rendering."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from dr_orchestrator.errors import DRError, Issue

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def render_error(exc: DRError) -> None:
    err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True,
                      soft_wrap=True)
    if exc.hint:
        err_console.print(f"  [yellow]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)


def render_issues(issues: list[Issue]) -> None:
    for issue in issues:
        colour = "red" if issue.severity == "error" else "yellow"
        err_console.print(f"[bold]{issue.location()}[/]: [{colour}]{issue.severity}[/]: {issue.message}",
                          highlight=False, soft_wrap=True, markup=True)
        if issue.hint:
            err_console.print(f"    hint: {issue.hint}", highlight=False, soft_wrap=True, markup=False)
