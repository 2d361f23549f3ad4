"""Drill history: achieved RTO/RPO over time, kept in the runbook's own storage.

Each drill appends one JSON record `history/<UTC time>-<run id>.json` at the
recovery site's storage location (create-only, so records are never overwritten).
`dro history` reads them back; `dro plan` replaces hand-written step estimates by
the median measured duration of the same step in recent drills.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dr_orchestrator.storage.base import Backend

if TYPE_CHECKING:  # `dro plan` reads the history: it should not import the report renderers (jinja2)
    from dr_orchestrator.reporting.model import Report

PREFIX = "history/"
RECENT = 5  # drills whose step durations feed the plan's estimates


@dataclass(frozen=True)
class DrillRecord:
    run_id: str
    time: str
    passed: bool
    duration_s: float
    services: dict[str, dict[str, Any]]  # name -> status, recovery_s, rto_s
    steps: dict[str, float]  # "service/step name" -> duration
    objectives: list[dict[str, Any]]

    @staticmethod
    def from_report(report: Report) -> DrillRecord:
        return DrillRecord(
            run_id=report.run_id,
            time=report.started_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            passed=report.passed,
            duration_s=round(report.duration_s, 3),
            services={s.name: {"status": s.status, "recovery_s": s.recovery_s, "rto_s": s.rto_s}
                      for s in report.services},
            steps={f"{s.service}/{s.name}": round(s.duration_s, 3) for s in report.steps
                   if s.duration_s is not None and s.status == "succeeded"},
            objectives=[{"kind": o.kind, "subject": o.subject, "target_s": o.target_s,
                         "achieved_s": o.achieved_s, "ok": o.ok} for o in report.objectives],
        )

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=1, sort_keys=True).encode()


def append(backend: Backend, report: Report) -> str:
    record = DrillRecord.from_report(report)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{PREFIX}{stamp}-{record.run_id or 'run'}.json"
    backend.put(key, record.to_json(), if_absent=True)
    return key


def load(backend: Backend, limit: int | None = None) -> list[DrillRecord]:
    """Records oldest first (keys sort by time); unreadable records are skipped, not fatal."""
    keys = sorted(info.key for info in backend.list(PREFIX) if info.key.endswith(".json"))
    if limit is not None:
        keys = keys[-limit:]
    out: list[DrillRecord] = []
    for key in keys:
        try:
            data = json.loads(backend.get(key))
            out.append(DrillRecord(**data))
        except (ValueError, TypeError):
            continue
    return out


def measured_estimates(records: list[DrillRecord], recent: int = RECENT) -> dict[str, float]:
    """Median duration per "service/step" over the most recent drills that ran it."""
    samples: dict[str, list[float]] = {}
    for record in records[-recent:]:
        for key, seconds in record.steps.items():
            samples.setdefault(key, []).append(seconds)
    return {key: statistics.median(values) for key, values in samples.items()}
