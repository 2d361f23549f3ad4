"""Forget policy: which snapshots to keep (restic-compatible bucket semantics, docs §9)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.repository.snapshot import Snapshot

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '2w', '1y6m'-style durations ('m' = minutes, 'mo' not supported)."""
    parts = re.findall(r"(\d+)\s*([smhdwy])", text.strip().lower())
    if not parts or "".join(a + b for a, b in parts) != re.sub(r"\s+", "", text.strip().lower()):
        raise BadInput(f"invalid duration {text!r}", "use e.g. 7d, 12h, 2w, 1y")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


@dataclass(frozen=True)
class Policy:
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: timedelta | None = None
    keep_tags: tuple[str, ...] = ()
    # Immutable data classes: nothing younger than this is removed, whatever the rules say.
    immutable_for: timedelta | None = None
    group_by: tuple[str, ...] = ("hostname", "paths")

    def empty(self) -> bool:
        return not (self.keep_last or self.keep_hourly or self.keep_daily or self.keep_weekly
                    or self.keep_monthly or self.keep_yearly or self.keep_within or self.keep_tags)


@dataclass
class ForgetResult:
    keep: list[Snapshot] = field(default_factory=list)
    remove: list[Snapshot] = field(default_factory=list)
    reasons: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"keep": [{"id": s.id, "time": s.time.isoformat(), "reasons": self.reasons.get(s.id, [])}
                         for s in self.keep],
                "remove": [{"id": s.id, "time": s.time.isoformat()} for s in self.remove]}


_BUCKETS = [
    ("hourly", lambda t: (t.year, t.month, t.day, t.hour)),
    ("daily", lambda t: (t.year, t.month, t.day)),
    ("weekly", lambda t: t.isocalendar()[:2]),
    ("monthly", lambda t: (t.year, t.month)),
    ("yearly", lambda t: (t.year,)),
]


def apply_policy(snapshots: list[Snapshot], policy: Policy, *, now: datetime | None = None) -> ForgetResult:
    if policy.empty():
        raise BadInput("no keep rule given; refusing to forget every snapshot",
                       "give at least one --keep-* option")
    now = now or datetime.now(UTC)
    groups: dict[tuple[Any, ...], list[Snapshot]] = {}
    for s in snapshots:
        key = tuple(tuple(s.paths) if g == "paths" else getattr(s, g) for g in policy.group_by)
        groups.setdefault(key, []).append(s)
    result = ForgetResult()
    for snaps in groups.values():
        snaps = sorted(snaps, key=lambda s: s.time, reverse=True)  # newest first
        reasons: dict[str, list[str]] = {s.id: [] for s in snaps}
        for i, s in enumerate(snaps):
            if i < policy.keep_last:
                reasons[s.id].append("last")
            if policy.keep_within is not None and s.time >= now - policy.keep_within:
                reasons[s.id].append("within")
            if policy.keep_tags and set(policy.keep_tags) & set(s.tags):
                reasons[s.id].append("tag")
            if s.retain_until is not None and s.retain_until > now:
                reasons[s.id].append("retention")
            if policy.immutable_for is not None and s.time > now - policy.immutable_for:
                reasons[s.id].append("immutable")
        for name, bucket in _BUCKETS:
            count = getattr(policy, f"keep_{name}")
            last: Any = None
            for s in snaps:
                if count <= 0:
                    break
                b = bucket(s.time.astimezone(UTC))
                if b != last:
                    reasons[s.id].append(name)
                    last = b
                    count -= 1
        for s in snaps:
            (result.keep if reasons[s.id] else result.remove).append(s)
            if reasons[s.id]:
                result.reasons[s.id] = reasons[s.id]
    result.keep.sort(key=lambda s: s.time)
    result.remove.sort(key=lambda s: s.time)
    return result
