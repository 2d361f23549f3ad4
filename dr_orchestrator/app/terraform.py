"""Use cases: export tfvars from a runbook, check Terraform outputs for drift."""

from __future__ import annotations

from pathlib import Path

from dr_orchestrator.terraform import Drift, check_outputs, export_tfvars
from dr_orchestrator.terraform.check import load_outputs
from dr_orchestrator.terraform.export import build_tfvars


def _load(runbook_path: str):  # type: ignore[no-untyped-def]
    from dr_orchestrator.runbook import load_runbook

    return load_runbook(runbook_path)


def export(runbook_path: str, provider: str, out_dir: str, pair: str | None = None) -> tuple[Path, dict]:
    runbook = _load(runbook_path)
    path = export_tfvars(runbook, provider, out_dir, pair)
    return path, build_tfvars(runbook, provider, pair)


def check(runbook_path: str, outputs_file: str) -> list[Drift]:
    runbook = _load(runbook_path)
    return check_outputs(runbook, load_outputs(outputs_file))
