"""The runbook language: models, loading with positions, validation, playbooks, schema."""

from __future__ import annotations

from dr_orchestrator.runbook.durations import format_duration, parse_duration, parse_size
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
from dr_orchestrator.runbook.secrets import SecretRef

__all__ = [
    "ACTIONS", "AnyStep", "DataClass", "Host", "Runbook", "SecretRef", "Service", "Site", "Step",
    "format_duration", "parse_duration", "parse_size",
]
