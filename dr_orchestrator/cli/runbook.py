"""`dro` commands for the runbook area (filled in by that area's issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
