"""Mirroring the source's forget/prune at the target — only what is safe.

What is deleted at the target, in reverse commit order:
1. snapshots the source no longer has (it ran `forget`), unless they are still under
   object lock (kept, reported as `kept_immutable`);
2. index and data objects the source no longer has — ONLY with the password
   (SnapshotGraph) and only when no snapshot remains at the target that the source
   lacks (an immutable one could need them) and the source's index no longer
   references the pack (a pack the index references but the source lacks was lost,
   not pruned: keep it; it is the copy `dro repair` needs).

Guards: nothing is deleted when the source lists no snapshot at all (a wrong or wiped
source must not wipe the replica), or while the source holds locks (a prune may be
half-way; deletion waits for the next run). Without the password, unreferenced packs
stay at the target (space, not safety) and the report says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dr_orchestrator.errors import DRError, ObjectLocked
from dr_orchestrator.replication import layout, listing
from dr_orchestrator.replication.graph import SnapshotGraph
from dr_orchestrator.replication.layout import Kind
from dr_orchestrator.replication.listing import Listing
from dr_orchestrator.replication.report import ReplicationReport
from dr_orchestrator.storage.base import Backend


def plan_deletes(src: Listing, tgt: Listing, rep: ReplicationReport) -> list[str]:
    """Dry run: the snapshots that would be deleted (recorded in rep.deleted)."""
    src_snaps = listing.by_kind(src, Kind.SNAPSHOTS)
    if not src_snaps:
        return []
    gone = sorted(k for k in listing.by_kind(tgt, Kind.SNAPSHOTS) if k not in src_snaps)
    rep.deleted.extend(gone)
    return gone


def mirror_deletes(src: Listing, target: Backend, rep: ReplicationReport, *,
                   graph: SnapshotGraph | None = None, now: datetime | None = None,
                   source_locks: int | None = None, target_listing: Listing | None = None) -> None:
    """`target_listing`: the run's own listing of the target (what is there beyond the
    source cannot have grown meanwhile: only we write there); else it is listed here."""
    now = now or datetime.now(UTC)
    tgt = target_listing if target_listing is not None else \
        listing.list_repository(target, (Kind.SNAPSHOTS, Kind.INDEX, Kind.DATA))
    src_snaps = listing.by_kind(src, Kind.SNAPSHOTS)
    extra_snaps = sorted(k for k in listing.by_kind(tgt, Kind.SNAPSHOTS) if k not in src_snaps)
    if not src_snaps:
        if extra_snaps:
            rep.warnings.append("the source lists no snapshot: deletions are not mirrored "
                                "(a wrong or wiped source must not wipe the replica)")
        return
    if source_locks:
        rep.warnings.append(f"the source holds {source_locks} lock(s): deletions are mirrored on a later run")
        return
    kept: list[str] = []
    for key in extra_snaps:
        _delete(target, key, tgt[key].retain_until, now, rep, kept)
    extra_objects = sorted(k for k in tgt.keys() - src.keys() if layout.kind_of(k) in (Kind.INDEX, Kind.DATA))
    if not extra_objects:
        return
    if kept:
        rep.warnings.append(f"{len(kept)} immutable snapshot(s) the source forgot remain at the target; "
                            "their data is kept too")
        return
    if graph is None:
        rep.warnings.append(f"{len(extra_objects)} object(s) at the target are gone from the source; "
                            "without the repository password they are kept (run again with the password "
                            "to prune them)")
        return
    try:
        referenced = graph.indexed_packs()
    except DRError as exc:
        rep.warnings.append(f"cannot read the source index ({exc.message}); nothing pruned at the target")
        return
    lost = [k for k in extra_objects if k in referenced]
    if lost:
        rep.warnings.append(f"{len(lost)} pack(s) the source index references are missing at the source; "
                            f"kept at the target — run `dro repair --repo {rep.source} --from {rep.target}`")
    # Index objects first, then packs: the reverse of the commit order.
    for kind in (Kind.INDEX, Kind.DATA):
        for key in extra_objects:
            if layout.kind_of(key) is kind and key not in referenced:
                _delete(target, key, tgt[key].retain_until, now, rep, kept)


def _delete(target: Backend, key: str, retain_until: datetime | None, now: datetime,
            rep: ReplicationReport, kept: list[str]) -> None:
    if retain_until is not None and retain_until > now:
        rep.kept_immutable.append(key)
        kept.append(key)
        return
    try:
        target.delete(key)
    except ObjectLocked:
        rep.kept_immutable.append(key)
        kept.append(key)
        return
    rep.deleted.append(key)
