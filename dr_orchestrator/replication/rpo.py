"""RPO measurement and its Prometheus text-format export.

Per data class and site: the newest snapshot tagged with the class (and, when the class
asks for verification, only a verified one), its age against the class's RPO. At a
replica site every snapshot is verified by construction (replication publishes only
verified snapshots); at the source, a snapshot counts as verified once it reached a
replica. A site that cannot be read is a violation with the reason — an RPO you cannot
measure is not met.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass
class RpoStatus:
    data_class: str
    site: str
    role: str  # "source" | "replica"
    rpo_seconds: float
    snapshot: str | None = None
    snapshot_time: datetime | None = None
    age_seconds: float | None = None
    verified: bool | None = None
    snapshots: int = 0
    error: str | None = None
    replicated_bytes_total: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.age_seconds is not None and self.age_seconds <= self.rpo_seconds

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["snapshot_time"] = self.snapshot_time.isoformat() if self.snapshot_time else None
        d["ok"] = self.ok
        d["status"] = "OK" if self.ok else "VIOLATED"
        return d


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    time: datetime
    tags: tuple[str, ...]


def newest(snapshots: Iterable[SnapshotInfo], data_class: str,
           allowed: set[str] | None = None) -> tuple[SnapshotInfo | None, int]:
    """Newest snapshot tagged `data_class` (restricted to `allowed` ids if given), and the count."""
    tagged = [s for s in snapshots if data_class in s.tags]
    pool = [s for s in tagged if allowed is None or s.id in allowed]
    return (max(pool, key=lambda s: s.time) if pool else None), len(tagged)


def measure(data_class: str, site: str, role: str, rpo_seconds: float, snapshots: list[SnapshotInfo],
            now: datetime, *, allowed: set[str] | None = None) -> RpoStatus:
    snap, count = newest(snapshots, data_class, allowed)
    st = RpoStatus(data_class, site, role, rpo_seconds, snapshots=count,
                   verified=None if allowed is None else snap is not None)
    if snap is not None:
        st.snapshot, st.snapshot_time = snap.id, snap.time
        st.age_seconds = max(0.0, (now - snap.time).total_seconds())
    elif count and allowed is not None:
        st.error = f"none of {count} snapshot(s) is verified yet"
    else:
        st.error = "no snapshot"
    return st


# --- Prometheus text format ------------------------------------------------------------

_METRICS = (
    ("dro_last_success_timestamp_seconds", "gauge", "Unix time of the newest snapshot that counts for the RPO."),
    ("dro_snapshot_age_seconds", "gauge", "Age of that snapshot (NaN when there is none)."),
    ("dro_rpo_seconds", "gauge", "The data class's recovery point objective."),
    ("dro_rpo_ok", "gauge", "1 when the RPO holds at this site, else 0."),
    ("dro_replicated_bytes_total", "counter", "Bytes replicated to this site by dro (server-side or streamed)."),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NaN"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


def prometheus_text(statuses: list[RpoStatus]) -> str:
    lines: list[str] = []
    for name, kind, help_text in _METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for s in statuses:
            labels = f'{{data_class="{_label(s.data_class)}",site="{_label(s.site)}"}}'
            if name == "dro_last_success_timestamp_seconds":
                value = _num(s.snapshot_time.timestamp() if s.snapshot_time else None)
            elif name == "dro_snapshot_age_seconds":
                value = _num(s.age_seconds)
            elif name == "dro_rpo_seconds":
                value = _num(s.rpo_seconds)
            elif name == "dro_rpo_ok":
                value = "1" if s.ok else "0"
            else:
                if s.replicated_bytes_total is None:
                    continue
                value = str(s.replicated_bytes_total)
            lines.append(f"{name}{labels} {value}")
    return "\n".join(lines) + "\n"
