"""Object-level replication of one repository location to another.

1. List the source (snapshots first, see layout.LIST_ORDER) and the target.
2. Diff: an object is copied when it is missing at the target, or present with another
   size / provider checksum (a damaged copy), or — with `deep` — present but not hashing
   to its name. The config must name the same repository at both ends.
3. Copy phase by phase in commit order (data → index → keys + config → snapshots), each
   object verified (transfer.py), each phase confirmed at the target before the next
   starts. A snapshot is written only when everything before it is there, so a reader of
   the target never sees a snapshot it cannot restore. A local target gets the later
   phases' objects copied under staged names while the data phase's barrier waits on the
   disk; each phase then only renames them into place (still in order, still after the
   barrier before it).
4. Snapshots are held back when verify_before_replicate says so, or when an object they
   need failed (needs the password: SnapshotGraph); without the password any failure
   holds back every new snapshot.
5. Optionally mirror the source's forget/prune at the target (retention.py).

Interrupted runs resume by themselves: the next diff only sees what is still missing,
and backends never show partial objects; the temp files a killed run left at the target
are swept by a later one (_sweep_temps).
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from dr_orchestrator.errors import BadInput, DRError, ObjectNotFound
from dr_orchestrator.replication import layout, listcache, listing, retention
from dr_orchestrator.replication.layout import Kind
from dr_orchestrator.replication.listcache import DirCache
from dr_orchestrator.replication.listing import InSync, Listing
from dr_orchestrator.replication.localfast import local_stats, syncfs_dir
from dr_orchestrator.replication.options import Options
from dr_orchestrator.replication.report import ReplicationReport
from dr_orchestrator.replication.throttle import MemoryBudget, TokenBucket
from dr_orchestrator.replication.transfer import Outcome, Result, Transfer
from dr_orchestrator.replication.workers import in_background, run_parallel
from dr_orchestrator.storage.base import Backend, ObjectInfo, sweep_temps_of


class Replicator:
    def __init__(self, source: Backend, target: Backend, options: Options | None = None) -> None:
        self.source = source
        self.target = target
        self.opt = options or Options()
        self.report = ReplicationReport(source=source.url, target=target.url, dry_run=self.opt.dry_run)
        limiter = TokenBucket(self.opt.bandwidth) if self.opt.bandwidth else None
        self.transfer = Transfer(source, target, counters=self.report.counters,
                                 budget=MemoryBudget(self.opt.memory_budget), limiter=limiter,
                                 retain_until=self.opt.retain_until, server_side=self.opt.server_side,
                                 verify=self.opt.verify, in_memory_max=self.opt.in_memory_max,
                                 stop=self.opt.stop, local_fast=self.opt.local_fast)
        self._in_sync = InSync()
        self._staged: dict[str, Result] = {}  # copied under staged names, not yet published
        self._caches: dict[str, DirCache] = {}
        if self.opt.listing_cache:
            for backend in (source, target):
                root = listing.local_root(backend)
                if root is not None and str(root) not in self._caches:
                    self._caches[str(root)] = DirCache(root, use_entries=not self.opt.deep)
        self._src_cache = self._cache_of(source)
        self._tgt_cache = self._cache_of(target)

    def _cache_of(self, backend: Backend) -> DirCache | None:
        root = listing.local_root(backend)
        return self._caches.get(str(root)) if root is not None else None

    # --- the run ----------------------------------------------------------------------

    def run(self) -> ReplicationReport:
        started = time.monotonic()
        try:
            try:
                self._run()
            finally:
                self.transfer.close()  # the helpers have stopped: nothing writes any more
                self._discard(list(self._staged))  # a stop or an error: staged, never published
            if self._caches and self.report.ok and not self.opt.dry_run:
                self._save_caches()
        finally:
            self.report.seconds = round(time.monotonic() - started, 3)
        return self.report

    def _run(self) -> None:
        rep = self.report
        src, tgt = self._list_both()
        same = self._in_sync  # in neither listing: present at both ends, same size
        rep.source_objects, rep.target_objects_before = len(src) + same.count, len(tgt) + same.count
        self._check_config(src, tgt)
        suspect = self._suspects(src, tgt)
        todo = {k: i for k, i in src.items() if k not in tgt or k in suspect}
        rep.to_copy, rep.to_copy_bytes = len(todo), sum(i.size for i in todo.values())
        rep.already_present = rep.source_objects - len(todo)
        rep.snapshots_new = sorted(layout.object_id(k) for k in listing.by_kind(todo, Kind.SNAPSHOTS))
        if self.opt.dry_run:
            if self.opt.mirror_deletes:
                retention.plan_deletes(src, tgt, rep)
            return
        if self._tgt_cache is not None and (todo or (self.opt.mirror_deletes and tgt.keys() - src.keys())):
            self._tgt_cache.invalidate()  # before the first write there (listcache.py)
        if self._tgt_cache is None or not self._tgt_cache.loaded:
            # No cache file: the last run here may have been killed, leaving temp and staged
            # files nobody renames (a cache file is written only after a run that ended well).
            self._sweep_temps()
        present = tgt.keys() - suspect
        if self.opt.graph is not None and same.count:
            present |= same.keys()  # what a snapshot needs may be among them

        @functools.cache
        def indexes() -> list[ObjectInfo]:  # once the data is copied (its failures decide), once
            return self._indexes_to_publish([i for k, i in todo.items() if layout.kind_of(k) is Kind.INDEX])

        def later_phases() -> list[ObjectInfo]:  # once the data is copied: what may follow it
            later = [i for k, i in todo.items() if layout.kind_of(k) in _LATER_KINDS - {Kind.INDEX}]
            return indexes() + later
        ahead = later_phases if self.transfer.can_stage else None
        for phase in layout.PHASES[:-1]:
            batch = (indexes() if Kind.INDEX in phase
                     else [i for k, i in todo.items() if layout.kind_of(k) in phase])
            present |= self._copy_phase("+".join(k.value for k in phase), batch, ahead=ahead)
            ahead = None
            if self.opt.stop.is_set():
                rep.stopped = True
                return
        snaps = listing.by_kind(todo, Kind.SNAPSHOTS)
        allowed = self._snapshots_to_publish(snaps, present)
        self._discard(set(snaps) - set(allowed))
        present |= self._copy_phase("snapshots", [snaps[k] for k in allowed])
        rep.snapshots_copied = sorted(layout.object_id(k) for k in allowed if k in present)
        if self.opt.stop.is_set():
            rep.stopped = True
            return
        if self.opt.mirror_deletes:
            locks = sum(1 for _ in self.source.list(layout.PREFIX[Kind.LOCKS]))
            retention.mirror_deletes(src, self.target, rep, graph=self.opt.graph, source_locks=locks,
                                     target_listing=tgt,
                                     now=self.opt.now() if self.opt.now else None)

    def _sweep_temps(self) -> None:
        """Remove what killed writers left at the target: the local replica writer's temp and
        staged files (by PID, localfast.py), else the temp files of a backend that writes
        through them (local put, SFTP: storage.base.TempSweeper) once they are a day old.
        Targets without a listing cache (every SFTP one) sweep on every run: an SFTP sweep
        reuses the target listing just made (sftp.py), so it costs two small directory
        listings; a local one without the replica writer reads every directory's names again.
        Housekeeping: whatever goes wrong is a warning, never the run's failure."""
        removed, problems = sweep_temps_of(self.transfer.local_writer or self.target)
        self.report.stale_temp_files_removed += removed
        self.report.warnings += [f"stale temp files: {p}" for p in problems[:20]]

    def _list_both(self) -> tuple[Listing, Listing]:
        src_cache, tgt_cache = self._src_cache, self._tgt_cache
        if listing.is_local(self.source) and listing.is_local(self.target):
            # Two cached local walks are CPU work under one GIL: side by side they only
            # slow each other down (a cold walk goes parallel by itself, listcache.py).
            if self.opt.deep:  # every object at the target gets hashed: list them all
                return (listing.list_repository(self.source, cache=src_cache),
                        listing.list_repository(self.target, cache=tgt_cache))
            src, tgt, self._in_sync = listing.list_local_pair(self.source, self.target, src_cache, tgt_cache)
            return src, tgt
        from concurrent.futures import ThreadPoolExecutor  # a remote end: the listings overlap

        with ThreadPoolExecutor(1, thread_name_prefix="dro-list-target") as pool:
            fut = pool.submit(listing.list_repository, self.target, cache=tgt_cache)
            src = listing.list_repository(self.source, cache=src_cache)
            return src, fut.result()

    def _save_caches(self) -> None:
        """After a successful run: the listing caches of the local ends (listcache.py).

        A target this run wrote to is read again first (only names not seen before cost a
        stat). Before a cache naming an object no earlier cache named is written, its file
        system is synced: the cache must never name an object a power cut could still take
        away (ours are synced per phase already; another process may be writing there)."""
        for cache in self._caches.values():
            if cache is self._tgt_cache and cache.invalidated:
                listing.refresh_local(self.target, cache)
        changed = [c for c in self._caches.values() if c.changed]
        for root in {listcache.device_of(c.root): c.root for c in changed if c.fresh}.values():
            syncfs_dir(Path(root))
        for cache in changed:
            cache.save()

    def _meanwhile(self) -> None:
        """Part of _save_caches's work, done while the data phase's barrier waits on the disk
        (it needs nothing from the barrier; a run that fails later wastes it): the source's
        cache will not change any more, so it is encoded now; the target's data/ directories
        are written, so they are read now, and at the end only those that changed since
        (mirrored deletes) cost more than a stat (or that changed just before they were read:
        listcache's racy rule)."""
        src, tgt = self._src_cache, self._tgt_cache
        if src is not None and src is not tgt and src.changed:
            src.encode()
        if tgt is not None and tgt.invalidated:
            listing.refresh_local(self.target, tgt, kinds=(Kind.DATA,))

    def _check_config(self, src: Listing, tgt: Listing) -> None:
        if layout.CONFIG_KEY not in src:
            if src or self._in_sync.count:
                raise BadInput(f"{self.source.url} has repository objects but no config",
                               "is this the right location? replication copies whole repositories")
            raise BadInput(f"{self.source.url} holds no repository (no config)",
                           "check the source URL, or initialise the repository with `dro repo init`")
        if layout.CONFIG_KEY not in tgt:
            return
        a, b = self.source.get(layout.CONFIG_KEY), self.target.get(layout.CONFIG_KEY)
        if a == b:
            return
        ida, idb = _repo_id(a), _repo_id(b)
        if ida and idb and ida != idb:
            raise BadInput(f"{self.target.url} holds a different repository ({idb}) than {self.source.url} "
                           f"({ida})", "replicate to an empty location or to a replica of this repository")
        # Same repository, different bytes: the target's config is damaged; re-send it.
        tgt.pop(layout.CONFIG_KEY)

    def _suspects(self, src: Listing, tgt: Listing) -> set[str]:
        """Target objects to re-send: wrong size or checksum, or (deep) wrong content hash."""
        bad = set()
        for k in src.keys() & tgt.keys():
            s, t = src[k], tgt[k]
            if t.size != s.size or (s.checksums and t.checksums and listing.checksums_conflict(s, t)):
                bad.add(k)
        if self.opt.deep:
            candidates = [k for k in src if k in tgt and k not in bad and layout.expected_hash(k) is not None]
            bad |= set(self.hash_check(self.target, candidates))
        self.report.resent_corrupt_target = sorted(bad)
        return bad

    def hash_check(self, backend: Backend, keys: Iterable[str]) -> list[str]:
        """Keys whose bytes at `backend` do not hash to their name (missing counts as bad)."""
        def check(key: str) -> str | None:
            try:
                return None if self.transfer.hash_object(backend, key) == layout.expected_hash(key) else key
            except ObjectNotFound:
                return key
        bad: list[str] = []
        for res in self._parallel(keys, check):
            if res is not None:
                bad.append(res)
        return sorted(bad)

    # --- copying ----------------------------------------------------------------------

    def _copy_phase(self, name: str, batch: list[ObjectInfo],
                    ahead: Callable[[], list[ObjectInfo]] | None = None) -> set[str]:
        """Copy `batch` (publish what of it is staged); return the keys now confirmed
        present at the target. `ahead`: objects to stage while this phase's barrier runs."""
        self.opt.progress.phase(name, len(batch), sum(i.size for i in batch))
        if not batch:
            return set()
        done: list[Result] = []
        staged = [i for i in batch if i.key in self._staged]
        rest = [i for i in batch if i.key not in self._staged] if staged else batch
        for res in itertools.chain(self._publish(staged), self._copy_all(rest)):
            done.append(res)
            self._record(res)
            self.opt.progress.advance(1, res.size)
        # The phase's barrier (a syncfs: kernel work, the GIL released) and the check that
        # the copies are visible with their sizes need nothing from each other: side by
        # side, the barrier started first (it is the long part; the bookkeeping below takes
        # ~0.1 s for 20,000 objects). The next phase starts only once both are done.
        # Meanwhile the CPUs would be idle: the next phases' objects are copied under
        # staged names (`ahead`).
        barrier_done = in_background(self.transfer.barrier, "dro-barrier")
        try:
            if self._tgt_cache is not None:  # a re-sent object: its size is read, not taken from the cache
                self._tgt_cache.forget(r.key for r in done if r.outcome is not Outcome.ABANDONED)
                # … but one this process wrote, checked against its name, into a directory no
                # listing knows yet (an empty target) needs no stat: the writer knows its size.
                self._tgt_cache.expect((r.key, r.size) for r in done if r.outcome is Outcome.STREAMED)
            copied = {r.key for r in done if r.outcome in (Outcome.SERVER_SIDE, Outcome.STREAMED)}
            if ahead is not None and not self.opt.stop.is_set():
                for res in self._copy_all(ahead(), stage=True):
                    self._staged[res.key] = res
            confirmed = self._confirm(copied, {i.key: i for i in batch})
            if ahead is not None and not self.opt.stop.is_set() and not self.report.failed:
                self._meanwhile()  # the data phase went well: its objects are all written
            return confirmed
        finally:
            barrier_done()

    def _copy_all(self, batch: list[ObjectInfo], *, stage: bool = False) -> Iterable[Result]:
        if not batch:
            return ()
        # Biggest first: the large objects overlap the many small ones, and the phase ends
        # on small ones, which spread evenly over the threads. A few at a time per thread.
        batch = sorted(batch, key=lambda i: i.size, reverse=True)
        copy = functools.partial(self.transfer.copy, stage=True) if stage else self.transfer.copy
        if self.transfer.local_pair:  # helper processes for a big batch (localproc.py)
            return self.transfer.copy_local_pair(batch, stage=stage, workers=self.opt.workers,
                                                 helpers=self.transfer.use_helpers(batch, self.opt.workers))
        return self._parallel(batch, copy, chunk=8)

    def _publish(self, batch: list[ObjectInfo]) -> Iterator[Result]:
        """Results of the staged objects of `batch`, each copied one renamed into place."""
        for info in batch:
            if self.opt.stop.is_set():  # as a copy would be: abandoned (discarded at the end)
                yield Result(info.key, Outcome.ABANDONED, 0, f"{info.key}: stop requested")
                continue
            res = self._staged.pop(info.key)
            if res.outcome is Outcome.STREAMED:
                try:
                    self.transfer.publish(info.key)
                except OSError as exc:
                    self._uncount(res)
                    res = Result(info.key, Outcome.FAILED, 0, f"staged copy could not be renamed into place: {exc}")
            yield res

    def _discard(self, keys: Iterable[str]) -> None:
        """Staged objects that will not be published (held back, or the run stopped)."""
        for key in keys:
            res = self._staged.pop(key, None)
            if res is not None and res.outcome is Outcome.STREAMED:
                try:
                    self.transfer.discard(key)
                except OSError as exc:  # cleanup must not hide why the run ended; the next run sweeps
                    self.report.warnings.append(f"staged copy of {key} could not be removed: {exc}")
                self._uncount(res)

    def _uncount(self, res: Result) -> None:
        verified = layout.expected_hash(res.key) is not None
        self.report.counters.add(objects_copied=-1, objects_streamed=-1, bytes_streamed=-res.size,
                                 objects_verified=-1 if verified else 0)

    def _record(self, res: Result) -> None:
        if res.outcome is Outcome.SOURCE_CORRUPT:
            self.report.source_corrupt.append(res.key)
        elif res.outcome is Outcome.FAILED:
            self.report.failed[res.key] = res.error or "failed"

    def _confirm(self, copied: set[str], src: dict[str, ObjectInfo]) -> set[str]:
        """Check the copies are visible at the target with the source's size/checksums.
        (A local target's listing takes the size of an object this process wrote into a
        directory it had not listed from the writer, which checked the bytes against the
        name: DirCache.expect. Presence always comes from reading the directory.)"""
        if not copied:
            return set()
        seen: dict[str, ObjectInfo] = {}
        if len(copied) <= 256:
            root = listing.local_root(self.target)
            if root is not None:
                # A local stat takes microseconds: no threads, and no backend call (its
                # retry wrapper and path objects cost ten times the stat).
                seen = {i.key: i for i in local_stats(root, sorted(copied))}
            else:
                def stat(key: str) -> ObjectInfo | None:
                    try:
                        return self.target.stat(key)
                    except ObjectNotFound:
                        return None
                for info in self._parallel(sorted(copied), stat):
                    if info is not None:
                        seen[info.key] = info
        else:
            for kind in {layout.kind_of(k) for k in copied}:
                seen.update(listing.list_kind(self.target, kind, cache=self._tgt_cache))
        ok = set()
        for key in copied:
            got, want = seen.get(key), src[key]
            if got is None:
                self.report.failed[key] = "not visible at the target after the copy"
            elif got.size != want.size:
                self.report.failed[key] = f"size at the target {got.size} != source {want.size}"
            elif listing.checksums_conflict(want, got) and not self._content_ok(key):
                self.report.failed[key] = "provider checksum differs from the source's"
            else:
                ok.add(key)
        return ok

    def _content_ok(self, key: str) -> bool:
        # Providers disagree on a checksum (e.g. an S3 multipart ETag vs a single-part
        # copy); the content hash decides. Not content-addressed: trust the disagreement.
        expected = layout.expected_hash(key)
        return expected is not None and self.transfer.hash_object(self.target, key) == expected

    def _parallel(self, items: Iterable, fn: Callable, chunk: int = 1) -> Iterable:
        """Run fn over items on the worker threads; yield results as they end (workers.py).
        A short list gets no more threads than it has chunks (starting one costs ~1 ms)."""
        workers = self.opt.workers
        if isinstance(items, list):
            workers = min(workers, max(1, -(-len(items) // chunk)))
        return run_parallel(items, fn, workers, self.opt.stop, chunk=chunk)

    # --- what may be published --------------------------------------------------------

    def _indexes_to_publish(self, batch: list[ObjectInfo]) -> list[ObjectInfo]:
        """An index naming a pack that failed would make the target fail `verify`: hold it
        back (precisely with the password, else every new index) until the source is healed."""
        failed = {k for k in (*self.report.source_corrupt, *self.report.failed) if layout.kind_of(k) is Kind.DATA}
        if not failed or not batch:
            return batch
        keep: list[ObjectInfo] = []
        held: list[str] = []
        for info in batch:
            if self.opt.graph is None:
                held.append(info.key)
                continue
            try:
                bad = bool(self.opt.graph.index_packs(layout.object_id(info.key)) & failed)
            except DRError:
                bad = True
            if bad:
                held.append(info.key)
            else:
                keep.append(info)
        self.report.objects_held_back = sorted(held)
        return keep

    # --- snapshots --------------------------------------------------------------------

    def _snapshots_to_publish(self, snaps: Listing, present: set[str]) -> list[str]:
        rep = self.report
        held: dict[str, str] = {}
        ids = {layout.object_id(k): k for k in snaps}
        if self.opt.snapshot_filter and ids:
            held.update(self.opt.snapshot_filter(sorted(ids)))
        failed = set(rep.source_corrupt) | set(rep.failed)
        if self.opt.graph is not None:
            for sid in sorted(set(ids) - set(held)):
                try:
                    missing = self.opt.graph.snapshot_needs(sid) - present
                except DRError as exc:
                    held[sid] = f"cannot read what it needs: {exc.message}"
                    continue
                if missing:
                    bad = sorted(missing & failed) or sorted(missing)
                    held[sid] = f"{len(missing)} object(s) it needs are not at the target (e.g. {bad[0]})"
        elif failed:
            reason = (f"{len(failed)} source object(s) failed verification and without the repository "
                      "password replication cannot tell which snapshots need them")
            for sid in ids:
                held.setdefault(sid, reason)
        rep.snapshots_held_back = dict(sorted(held.items()))
        return sorted(k for sid, k in ids.items() if sid not in held)


_LATER_KINDS = frozenset(k for phase in layout.PHASES[1:] for k in phase)


def _repo_id(config: bytes) -> str | None:
    try:
        doc = json.loads(config)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    value = doc.get("id") or doc.get("repo_id") or doc.get("repository_id")
    return str(value) if value else None


def replicate(source: Backend, target: Backend, options: Options | None = None) -> ReplicationReport:
    return Replicator(source, target, options).run()
