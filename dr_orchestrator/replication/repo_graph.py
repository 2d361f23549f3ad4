"""SnapshotGraph and verify_before_replicate over a real repository (needs the password).

- `snapshot_needs(id)`: walk the snapshot's trees; every tree and data blob maps to a
  pack through the index; the snapshot needs those packs plus the index objects that
  describe them. Subtree results are memoised, so snapshots that share most of their
  trees (the usual case) cost little more than one.
- `indexed_packs()`: every pack the index references (retention uses it to tell a
  pruned pack from a lost one).
- `VerifyFilter`: verify_before_replicate — a new snapshot is published only when its
  structure reads (trees decrypt, blobs indexed) and every pack it needs that the target
  does not hold yet passes a full read (BLAKE3 name, header, every blob's tag and id).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dr_orchestrator.errors import DRError, IntegrityError, ObjectNotFound
from dr_orchestrator.repository.crypto import object_name, open_blob, open_doc
from dr_orchestrator.repository.format import index_key, pack_key, parse_time, snapshot_key
from dr_orchestrator.repository.packer import parse_pack
from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.repository.snapshot import Snapshot


class RepositoryGraph:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._tree_packs: dict[str, frozenset[str]] = {}
        self._pack_index: dict[str, set[str]] | None = None

    def snapshot(self, sid: str) -> Snapshot:
        raw = self.repo.backend.get(snapshot_key(sid))
        if object_name(raw) != sid:
            raise IntegrityError(f"snapshot {sid[:8]} does not match its name (damaged)")
        snap = Snapshot.from_doc(sid, open_doc(self.repo.keys, "snapshot", raw, f"snapshot {sid[:8]}"))
        from dr_orchestrator.repository.verify import load_verified

        when = load_verified(self.repo.config.id).get(sid)  # recorded by a clean full verify
        snap.verified_at = parse_time(when) if when else None
        return snap

    def snapshot_packs(self, sid: str) -> frozenset[str]:
        return self._packs_of_tree(self.snapshot(sid).tree)

    def snapshot_needs(self, snapshot_id: str) -> set[str]:
        packs = self.snapshot_packs(snapshot_id)
        where = self._pack_to_index()
        needs = {pack_key(p) for p in packs}
        for p in packs:
            needs |= {index_key(i) for i in where.get(p, ())}
        return needs

    def indexed_packs(self) -> set[str]:
        return {pack_key(p) for p in self.repo.index.packs}

    def index_packs(self, index_id: str) -> set[str]:
        return {pack_key(p) for p, ids in self._pack_to_index().items() if index_id in ids}

    def _pack_of(self, blob_hex: str, what: str) -> str:
        loc = self.repo.index.get(bytes.fromhex(blob_hex))
        if loc is None:
            raise IntegrityError(f"{what}: blob {blob_hex[:16]} is not in the index")
        return loc.pack_id

    def _packs_of_tree(self, tree_id: str) -> frozenset[str]:
        # Iterative post-order walk with memoisation (deep trees must not hit the recursion limit).
        stack: list[tuple[str, bool]] = [(tree_id, False)]
        while stack:
            tid, expanded = stack.pop()
            if tid in self._tree_packs:
                continue
            nodes = self.repo.load_tree(tid, f"tree {tid[:16]}")
            subtrees = [n.subtree for n in nodes if n.type == "dir" and n.subtree]
            if not expanded:
                stack.append((tid, True))
                stack.extend((s, False) for s in subtrees if s not in self._tree_packs)
                continue
            packs = {self._pack_of(tid, "tree")}
            for n in nodes:
                if n.type == "file":
                    packs.update(self._pack_of(b, f"file {n.name}") for b in n.data_blobs())
            for s in subtrees:
                packs |= self._tree_packs[s]
            self._tree_packs[tid] = frozenset(packs)
        return self._tree_packs[tree_id]

    def _pack_to_index(self) -> dict[str, set[str]]:
        if self._pack_index is None:
            where: dict[str, set[str]] = {}
            for iid in self.repo.index.index_ids:
                doc = open_doc(self.repo.keys, "index", self.repo.backend.get(index_key(iid)),
                               f"index object {iid[:16]}")
                for p in doc.get("packs", ()):
                    where.setdefault(str(p["id"]), set()).add(iid)
            self._pack_index = where
        return self._pack_index


class VerifyFilter:
    """verify_before_replicate: {snapshot id: reason} for new snapshots that did not verify.

    A snapshot the repository already records as verified (`Snapshot.verified_at`, set by a
    clean full `dro verify --read-data`) passes as is. Any other must read structurally
    (its trees decrypt, its blobs are indexed: done by walking it) and every pack it needs
    that the target did not hold before this run must pass a full read — BLAKE3 name,
    header, every blob's tag and id, as the repository's own verify does.
    """

    def __init__(self, graph: RepositoryGraph, already_at_target: Callable[[], set[str]] | None = None,
                 threads: int = 3) -> None:
        self.graph = graph
        # Packs at the target *before* this run were verified when they were published;
        # taken now (the filter is built before the copy starts), not when it is called.
        self.verified_before = already_at_target() if already_at_target else set()
        self.threads = threads
        self.packs_read = 0

    def __call__(self, ids: list[str]) -> dict[str, str]:
        held: dict[str, str] = {}
        needs: dict[str, frozenset[str]] = {}
        for sid in ids:
            try:
                if self.graph.snapshot(sid).verified_at is not None:
                    continue
                needs[sid] = self.graph.snapshot_packs(sid)
            except DRError as exc:
                held[sid] = f"verification failed: {exc.message}"
        todo = sorted({p for packs in needs.values() for p in packs if pack_key(p) not in self.verified_before})
        bad: dict[str, str] = {}
        with ThreadPoolExecutor(self.threads, thread_name_prefix="dro-verify") as pool:
            for pid, error in zip(todo, pool.map(self._check_pack, todo), strict=True):
                self.packs_read += 1
                if error:
                    bad[pid] = error
        for sid, packs in needs.items():
            failed = sorted(packs & set(bad))
            if failed:
                held[sid] = f"verification failed: {bad[failed[0]]}"
        return held

    def _check_pack(self, pid: str) -> str | None:
        repo = self.graph.repo
        what = f"pack {pid[:16]}"
        try:
            stored = repo.backend.get(pack_key(pid))
        except ObjectNotFound:
            return f"{what} is missing"
        if object_name(stored) != pid:
            return f"{what} does not match its name (damaged)"
        try:
            mv = memoryview(stored)
            for e in parse_pack(repo.keys, stored, what):
                open_blob(repo.keys, mv[e.offset:e.offset + e.length], e.blob_type, e.blob_id, e.ulen, what)
        except IntegrityError as exc:
            return exc.message
        return None
