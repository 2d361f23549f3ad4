"""Verify: structure (config, index, packs present, trees decodable, blobs indexed) and data (§10)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dr_orchestrator.errors import DRError, IntegrityError, ObjectNotFound
from dr_orchestrator.repository.crypto import object_name, open_blob
from dr_orchestrator.repository.format import pack_key
from dr_orchestrator.repository.packer import parse_pack
from dr_orchestrator.repository.progress import NullProgress, Progress

if TYPE_CHECKING:
    from dr_orchestrator.repository.repo import Repository


@dataclass
class VerifyReport:
    snapshots: int = 0
    packs: int = 0
    packs_read: int = 0
    blobs: int = 0
    bytes_read: int = 0
    unreferenced_packs: int = 0
    errors: list[str] = field(default_factory=list)
    damaged_files: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["ok"] = self.ok
        return d

    def raise_for_errors(self) -> None:
        if self.errors:
            files = f"; damaged files: {', '.join(self.damaged_files[:20])}" if self.damaged_files else ""
            raise IntegrityError(f"verify found {len(self.errors)} problem(s): {'; '.join(self.errors[:10])}"
                                 + files, "restore the damaged objects from a replica; "
                                 "`dro prune` can drop unreferenced data")


def cache_dir(repo_id: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dro" / repo_id


def record_verified(snap_ids: list[str], repo_id: str) -> None:
    """Remember (locally) that these snapshots passed a full `--read-data` verify."""
    path = cache_dir(repo_id) / "verified.json"
    seen = load_verified(repo_id)
    now = datetime.now(UTC).isoformat()
    seen.update({sid: now for sid in snap_ids})
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(seen))


def load_verified(repo_id: str) -> dict[str, str]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((cache_dir(repo_id) / "verified.json").read_text())
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
    return {}


class Verifier:
    def __init__(self, repo: Repository, *, progress: Progress | None = None, threads: int = 3) -> None:
        self.repo = repo
        self.progress = progress or NullProgress()
        self.threads = threads

    def run(self, read_data: float) -> VerifyReport:
        start = time.monotonic()
        rep = VerifyReport()
        repo = self.repo
        listed = {i.key.rsplit("/", 1)[-1]: i.size for i in repo.backend.list("data/")}
        for pid, (_ptype, size) in repo.index.packs.items():
            if pid not in listed:
                rep.errors.append(f"pack {pid[:16]} is in the index but missing")
            elif listed[pid] != size:
                rep.errors.append(f"pack {pid[:16]} has size {listed[pid]}, index says {size}")
        rep.errors.extend(repo.index.damaged)
        rep.packs = len(repo.index.packs)
        rep.unreferenced_packs = len(set(listed) - set(repo.index.packs))
        bad_blobs: set[bytes] = set()
        try:
            snaps = repo.snapshots()
        except DRError as exc:
            rep.errors.append(exc.message)
            snaps = []
        rep.snapshots = len(snaps)
        seen_trees: set[str] = set()
        for s in snaps:
            self._check_tree(s.tree, f"snapshot {s.short_id}:/", seen_trees, rep)
        if read_data > 0:
            packs = sorted(p for p in repo.index.packs if p in listed)
            chosen = self._choose(packs, read_data)
            self.by_pack: dict[str, dict[bytes, Any]] = {}
            for bid, loc in repo.index.blobs.items():
                self.by_pack.setdefault(loc.pack_id, {})[bid] = loc
            self.progress.set_total(sum(listed[p] for p in chosen))
            with ThreadPoolExecutor(self.threads, thread_name_prefix="dro-verify") as pool:
                for errs, bad, nread in pool.map(self._read_pack, chosen):
                    rep.errors.extend(errs)
                    bad_blobs.update(bad)
                    rep.packs_read += 1
                    rep.bytes_read += nread
        rep.blobs = len(repo.index.blobs)
        if bad_blobs:
            rep.damaged_files = self._files_using(bad_blobs, snaps)
        rep.duration_s = round(time.monotonic() - start, 3)
        if rep.ok and read_data >= 1:
            record_verified([s.id for s in snaps], self.repo.config.id)
        return rep

    def _check_tree(self, tree_id: str, where: str, seen: set[str], rep: VerifyReport) -> None:
        if tree_id in seen:
            return
        seen.add(tree_id)
        try:
            nodes = self.repo.load_tree(tree_id, where)
        except DRError as exc:
            rep.errors.append(f"{where}: {exc.message}")
            return
        for n in nodes:
            if n.type == "dir" and n.subtree:
                self._check_tree(n.subtree, f"{where.rstrip('/')}/{n.name}", seen, rep)
            elif n.type == "file":
                for c in n.data_blobs():
                    if bytes.fromhex(c) not in self.repo.index:
                        rep.errors.append(f"{where.rstrip('/')}/{n.name}: blob {c[:16]} is not in the index")
                        break

    def _choose(self, packs: list[str], fraction: float) -> list[str]:
        if fraction >= 1 or not packs:
            return packs
        n = max(1, math.ceil(len(packs) * fraction))
        state = cache_dir(self.repo.config.id) / "verify-cursor.json"
        cursor = 0
        with contextlib.suppress(OSError, ValueError, KeyError):
            cursor = int(json.loads(state.read_text())["cursor"])
        start = cursor % len(packs)
        chosen = [packs[(start + i) % len(packs)] for i in range(n)]
        try:
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps({"cursor": (start + n) % len(packs)}))
        except OSError:
            pass
        return chosen

    def _read_pack(self, pid: str) -> tuple[list[str], set[bytes], int]:
        repo = self.repo
        what = f"pack {pid[:16]}"
        try:
            stored = repo.backend.get(pack_key(pid))
        except ObjectNotFound:
            return [f"{what} is missing"], set(self.by_pack.get(pid, {})), 0
        self.progress.advance(len(stored))
        indexed = self.by_pack.get(pid, {})
        if object_name(stored) != pid:
            return [f"{what} does not match its name (damaged)"], set(indexed), len(stored)
        errors: list[str] = []
        bad: set[bytes] = set()
        try:
            entries = parse_pack(repo.keys, stored, what)
        except IntegrityError as exc:
            return [exc.message], set(indexed), len(stored)
        mv = memoryview(stored)
        for e in entries:
            loc = indexed.get(e.blob_id)
            if loc is not None and (loc.offset, loc.length) != (e.offset, e.length):
                errors.append(f"{what}: blob {e.blob_id.hex()[:16]} is at another place than the index says")
            try:
                open_blob(repo.keys, mv[e.offset:e.offset + e.length], e.blob_type, e.blob_id, e.ulen, what)
            except IntegrityError as exc:
                errors.append(exc.message)
                bad.add(e.blob_id)
        return errors, bad, len(stored)

    def _files_using(self, bad: set[bytes], snaps: list[Any]) -> list[str]:
        files: list[str] = []
        bad_hex = {b.hex() for b in bad}
        for s in snaps:
            try:
                for path, n in self.repo.walk(s.tree):
                    if (n.type == "file" and bad_hex.intersection(n.data_blobs())) or \
                            (n.type == "dir" and n.subtree in bad_hex):
                        files.append(f"{s.short_id}:{path}")
            except DRError:
                files.append(f"{s.short_id}: (tree damaged)")
        return files
