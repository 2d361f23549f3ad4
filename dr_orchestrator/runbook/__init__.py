"""The runbook language: models, loading with positions, validation, playbooks, schema.

    runbook = load_runbook("runbooks/quickstart.yaml")        # raises ValidationFailed
    runbook, issues = validate_file("runbooks/quickstart.yaml")  # never raises for bad input
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dr_orchestrator.errors import Issue, ValidationFailed
from dr_orchestrator.gcpause import gc_paused
from dr_orchestrator.runbook.durations import format_duration, format_size, parse_duration, parse_size
from dr_orchestrator.runbook.loader import load
from dr_orchestrator.runbook.models import (
    ACTIONS,
    AnyStep,
    DataClass,
    Host,
    Runbook,
    Service,
    Site,
    Step,
)
from dr_orchestrator.runbook.playbooks import expand_playbook
from dr_orchestrator.runbook.secrets import SecretRef
from dr_orchestrator.runbook.validate import semantic_issues

__all__ = [
    "ACTIONS", "AnyStep", "DataClass", "Host", "Issue", "Runbook", "SecretRef", "Service", "Site", "Step",
    "expand_playbook", "format_duration", "format_size", "load_runbook", "parse_duration", "parse_size",
    "validate_file",
]


def validate_file(path: str | Path, *, strict: bool = False,
                  variables: dict[str, Any] | None = None) -> tuple[Runbook | None, list[Issue]]:
    """Load and check a runbook. Returns the Runbook (None if it has errors) and every issue,
    sorted by file and line. With `strict`, warnings count as errors."""
    with gc_paused():  # ~500,000 objects for a big runbook: see gcpause
        loaded = load(Path(path), variables)
        issues = loaded.issues + semantic_issues(loaded, strict)
    if strict:
        issues = [Issue(i.file, i.line, i.column, i.message, i.hint, "error", i.code) for i in issues]
    issues = _sorted_unique(issues)
    if any(i.severity == "error" for i in issues):
        return None, issues
    return loaded.runbook, issues


def load_runbook(path: str | Path, *, strict: bool = False,
                 variables: dict[str, Any] | None = None) -> Runbook:
    """The validated Runbook; raises ValidationFailed carrying all issues if there is any error."""
    runbook, issues = validate_file(path, strict=strict, variables=variables)
    if runbook is None:
        raise ValidationFailed(issues)
    return runbook


def _sorted_unique(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for issue in issues:
        key = (issue.file, issue.line, issue.column, issue.message)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    files: dict[str, int] = {}
    for issue in out:
        files.setdefault(issue.file, len(files))
    return sorted(out, key=lambda i: (files[i.file], i.line, i.column))
