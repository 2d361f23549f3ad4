"""Use cases of the runbook area: validate a runbook, export the JSON Schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import BadInput, Issue
from dr_orchestrator.runbook import Runbook, validate_file
from dr_orchestrator.runbook.schema import KINDS, json_schema


@dataclass
class ValidationReport:
    path: str
    runbook: Runbook | None
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        rb = self.runbook
        if rb is None:
            return f"{self.path}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        steps = sum(len(s.steps(a)) for s in rb.services.values() for a in ("failover", "failback", "rebuild"))
        return (f"{self.path}: valid — {len(rb.sites)} site(s), {len(rb.data_classes)} data class(es), "
                f"{len(rb.services)} service(s), {steps} step(s)"
                + (f", {len(self.warnings)} warning(s)" if self.warnings else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "valid": self.ok, "errors": len(self.errors),
                "warnings": len(self.warnings), "issues": [i.to_dict() for i in self.issues]}


def validate(path: str, *, strict: bool = False) -> ValidationReport:
    """Check a runbook completely; never raises for problems in the runbook (they are issues)."""
    if not Path(path).exists():
        raise BadInput(f"runbook not found: {path}", "give the path of a runbook YAML file, "
                       "e.g. runbooks/quickstart.yaml")
    runbook, issues = validate_file(path, strict=strict)
    return ValidationReport(path, runbook, issues)


def schema(kind: str = "runbook") -> dict[str, Any]:
    if kind not in KINDS:
        raise BadInput(f"unknown schema kind {kind!r}", f"use one of: {', '.join(KINDS)}")
    return json_schema(kind)
