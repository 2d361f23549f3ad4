"""Snapshot documents: the commit point of a backup (docs/repository-format.md §6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dr_orchestrator.errors import BadInput, IntegrityError
from dr_orchestrator.repository.format import parse_time, utc_iso


@dataclass
class Snapshot:
    id: str
    time: datetime
    hostname: str
    paths: list[str]
    tags: list[str]
    tree: str
    username: str = ""
    parent: str | None = None
    excludes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    streams: dict[str, dict[str, str]] = field(default_factory=dict)
    retain_until: datetime | None = None
    program: str = ""
    verified_at: datetime | None = None

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def to_doc(self) -> dict[str, Any]:
        return {"version": 1, "time": utc_iso(self.time), "hostname": self.hostname,
                "username": self.username, "paths": self.paths, "tags": self.tags, "excludes": self.excludes,
                "tree": self.tree, "parent": self.parent, "summary": self.summary, "streams": self.streams,
                "retain_until": utc_iso(self.retain_until) if self.retain_until else None,
                "program": self.program}

    @classmethod
    def from_doc(cls, snap_id: str, d: dict[str, Any]) -> Snapshot:
        try:
            return cls(id=snap_id, time=parse_time(d["time"]), hostname=str(d["hostname"]),
                       paths=list(d["paths"]), tags=list(d.get("tags", [])), tree=str(d["tree"]),
                       username=str(d.get("username", "")), parent=d.get("parent"),
                       excludes=list(d.get("excludes", [])), summary=dict(d.get("summary", {})),
                       streams=dict(d.get("streams", {})),
                       retain_until=parse_time(d["retain_until"]) if d.get("retain_until") else None,
                       program=str(d.get("program", "")))
        except (KeyError, ValueError, TypeError) as exc:
            raise IntegrityError(f"snapshot {snap_id[:8]} is malformed") from exc

    def to_json(self) -> dict[str, Any]:
        d = self.to_doc()
        d["id"] = self.id
        d["short_id"] = self.short_id
        d["verified_at"] = utc_iso(self.verified_at) if self.verified_at else None
        return d


def select(snapshots: list[Snapshot], ref: str, at: datetime | None = None) -> Snapshot:
    """`latest`, a (prefix of a) snapshot id; `at` restricts to snapshots at or before that time."""
    snaps = sorted(snapshots, key=lambda s: s.time)
    if at is not None:
        snaps = [s for s in snaps if s.time <= at]
    if ref == "latest":
        if not snaps:
            raise BadInput("no snapshot found" + (f" at or before {utc_iso(at)}" if at else ""),
                           "run `dro snapshots` to list them")
        return snaps[-1]
    found = [s for s in snaps if s.id.startswith(ref.lower())]
    if not found:
        raise BadInput(f"no snapshot {ref!r}", "run `dro snapshots` to list them")
    if len(found) > 1:
        raise BadInput(f"snapshot id prefix {ref!r} is ambiguous", "give more characters")
    return found[0]
