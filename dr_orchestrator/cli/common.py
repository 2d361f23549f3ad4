"""Helpers shared by every command module: console, JSON output, error rendering."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dr_orchestrator.errors import DRError, Issue

if TYPE_CHECKING:
    from rich.console import Console

    console: Console  # stdout
    err_console: Console  # stderr: progress, errors, issues


def __getattr__(name: str) -> Any:
    """`console` and `err_console` are made on first use: importing rich costs ~40 ms that a
    command printing JSON (`dro plan --format json`) never needs."""
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = globals()[name] = Console(stderr=name == "err_console")
    return made


def _err() -> Console:
    made = globals().get("err_console")
    return made if made is not None else __getattr__("err_console")


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    # A read-only mapping (a record's default, storage.base.EMPTY_MAPPING) is still an
    # object in JSON, not its str(); anything else json cannot encode is shown as text.
    return dict(value) if isinstance(value, Mapping) else str(value)


def human_size(n: float) -> str:
    """Bytes for people: 512 B, 1.5 KiB, 3.2 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def render_error(exc: DRError) -> None:
    _err().print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True, soft_wrap=True)
    if exc.hint:
        _err().print(f"  [yellow]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)


def render_issues(issues: list[Issue]) -> None:
    for issue in issues:
        colour = "red" if issue.severity == "error" else "yellow"
        _err().print(f"[bold]{issue.location()}[/]: [{colour}]{issue.severity}[/]: {issue.message}",
                     highlight=False, soft_wrap=True, markup=True)
        if issue.hint:
            _err().print(f"    hint: {issue.hint}", highlight=False, soft_wrap=True, markup=False)
