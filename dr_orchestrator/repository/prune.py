"""Prune: drop data no snapshot uses (docs/repository-format.md §9).

Runs under the exclusive lock. Order: repack live blobs from mostly-unused packs →
write one index of everything live (superseding all old ones) → delete old index
objects → delete packs nothing references. A crash between steps leaves extra
objects, never a referenced blob without its pack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dr_orchestrator.errors import DRError, IntegrityError, ObjectLocked
from dr_orchestrator.repository.format import BLOB_DATA, BLOB_TREE, index_key, pack_key
from dr_orchestrator.repository.index import BlobLocation, Index, write_index
from dr_orchestrator.repository.locks import RepoLock
from dr_orchestrator.repository.packer import FinishedPack, PackEntry, Packer, Uploader
from dr_orchestrator.repository.progress import NullProgress, Progress
from dr_orchestrator.storage.base import sweep_temps_of

if TYPE_CHECKING:
    from dr_orchestrator.repository.repo import Repository

# Repack a pack when more than this fraction of its bytes is unused.
REPACK_UNUSED = 0.25


@dataclass
class PruneReport:
    packs_before: int = 0
    packs_deleted: int = 0
    packs_repacked: int = 0
    packs_written: int = 0
    unreferenced_deleted: int = 0
    temp_files_removed: int = 0  # left by puts killed mid-write (local, sftp), a day old
    warnings: list[str] = field(default_factory=list)
    retained_kept: int = 0
    blobs_live: int = 0
    blobs_removed: int = 0
    bytes_freed: int = 0
    indexes_replaced: int = 0
    dry_run: bool = False
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Pruner:
    def __init__(self, repo: Repository, lock: RepoLock, *, progress: Progress | None = None) -> None:
        self.repo = repo
        self.lock = lock
        self.progress = progress or NullProgress()

    def _used(self) -> set[bytes]:
        used: set[bytes] = set()
        todo = [bytes.fromhex(s.tree) for s in self.repo.snapshots()]
        while todo:  # each distinct tree once: unchanged subtrees are shared between snapshots
            tid = todo.pop()
            if tid in used:
                continue
            used.add(tid)
            for n in self.repo.load_tree(tid.hex()):
                if n.type == "dir" and n.subtree:
                    todo.append(bytes.fromhex(n.subtree))
                elif n.type == "file":
                    used.update(bytes.fromhex(c) for c in n.data_blobs())
        return used

    def run(self, *, dry_run: bool = False) -> PruneReport:
        start = time.monotonic()
        repo = self.repo
        repo.reload_index()
        idx = repo.index
        rep = PruneReport(dry_run=dry_run)
        if idx.damaged:
            # Packs only a damaged index describes would look unused: never prune blind.
            raise IntegrityError(f"refusing to prune: {'; '.join(idx.damaged)}",
                                 "restore the damaged index objects from a replica, then prune")
        used = self._used()  # raises IntegrityError if a tree is damaged: never prune blind
        now = datetime.now(UTC)
        listed = {i.key.rsplit("/", 1)[-1]: i for i in repo.backend.list("data/")}
        retained = {p for p, i in listed.items() if i.retain_until is not None and i.retain_until > now}
        rep.packs_before = len(listed)
        live_by_pack: dict[str, list[tuple[bytes, BlobLocation]]] = {}
        for bid, loc in idx.blobs.items():
            if bid in used or loc.pack_id in retained:
                live_by_pack.setdefault(loc.pack_id, []).append((bid, loc))
        rep.blobs_live = sum(len(v) for v in live_by_pack.values())
        rep.blobs_removed = len(idx.blobs) - rep.blobs_live
        delete: list[str] = []
        repack: list[str] = []
        for pid, info in listed.items():
            if pid in retained:
                rep.retained_kept += 1
                continue
            if pid not in idx.packs:
                rep.unreferenced_deleted += 1
                delete.append(pid)
                continue
            live = sum(loc.length for _b, loc in live_by_pack.get(pid, []))
            if live == 0:
                delete.append(pid)
            elif (info.size - live) / max(info.size, 1) > REPACK_UNUSED:
                repack.append(pid)
        rep.packs_deleted = len(delete)
        rep.packs_repacked = len(repack)
        rep.bytes_freed = sum(listed[p].size for p in delete) + sum(
            listed[p].size - sum(loc.length for _b, loc in live_by_pack[p]) for p in repack)
        if not dry_run:
            self._sweep_temps(rep)
        if dry_run or not (delete or repack or len(idx.index_ids) > 1):
            rep.duration_s = round(time.monotonic() - start, 3)
            return rep
        new_packs = self._repack(repack, live_by_pack)
        rep.packs_written = len(new_packs)
        self.lock.check()
        gone = set(delete) | set(repack)
        packs: list[tuple[str, str, int, list[PackEntry]]] = []
        for pid, items in live_by_pack.items():
            if pid in gone:
                continue
            ptype = idx.packs[pid][0]
            packs.append((pid, ptype, idx.packs[pid][1],
                          [PackEntry(loc.blob_type, bid, loc.offset, loc.length, loc.ulen)
                           for bid, loc in sorted(items, key=lambda x: x[1].offset)]))
        packs.extend((p.pack_id, p.blob_type, p.size, p.entries) for p in new_packs)
        old_indexes = list(idx.index_ids)
        write_index(repo.backend, repo.keys, packs, supersedes=old_indexes)
        self.lock.check()
        for iid in old_indexes:
            try:
                repo.backend.delete(index_key(iid))
            except ObjectLocked:
                continue  # under retention: a duplicate index entry is harmless
        rep.indexes_replaced = len(old_indexes)
        repo.cache.forget([index_key(i) for i in old_indexes] + [pack_key(p) for p in gone])
        for pid in sorted(gone):
            try:
                repo.backend.delete(pack_key(pid))
            except ObjectLocked:
                rep.retained_kept += 1
            self.progress.advance(listed[pid].size)
        repo.reload_index()
        rep.duration_s = round(time.monotonic() - start, 3)
        return rep

    def _sweep_temps(self, rep: PruneReport) -> None:
        """Remove the temp files of puts killed mid-write (a backup, a repair) that a backend
        writing through them keeps beside its objects (storage.base.TempSweeper; object
        stores have none). Only those untouched for a day: a live writer keeps its own fresh.
        What cannot be removed is reported (warnings) and left for the next prune."""
        rep.temp_files_removed, problems = sweep_temps_of(self.repo.backend)
        rep.warnings += [f"stale temp files: {p}" for p in problems[:20]]

    def _repack(self, pids: list[str], live: dict[str, list[tuple[bytes, BlobLocation]]]) -> list[FinishedPack]:
        if not pids:
            return []
        repo = self.repo
        done: list[FinishedPack] = []
        uploader = Uploader(repo.backend, done.append, threads=1)
        packers = {t: Packer(repo.keys, t, repo.config.pack_size, uploader) for t in (BLOB_DATA, BLOB_TREE)}
        try:
            for pid in pids:
                stored = memoryview(repo.backend.get(pack_key(pid)))
                for bid, loc in live[pid]:
                    # Stored blobs are copied as they are: id and type are bound in their AAD.
                    packers[loc.blob_type].add(bid, stored[loc.offset:loc.offset + loc.length], loc.ulen)
                self.lock.check()
            for p in packers.values():
                p.flush()
        finally:
            uploader.close()
        if len(done) == 0 and any(live[p] for p in pids):
            raise DRError("repacking produced no packs")
        return done


__all__ = ["Pruner", "PruneReport", "Index"]
