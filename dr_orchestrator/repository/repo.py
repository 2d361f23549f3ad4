"""`Repository`: the public face of the repository package (docs/repository-format.md).

Other areas (sources, replication, app, CLI) use only this class, `StreamSource`
and the report types; the modules behind it own one concern each.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from dr_orchestrator import __version__
from dr_orchestrator.errors import BadInput, IntegrityError, ObjectExists, ObjectNotFound, WrongPassword
from dr_orchestrator.repository.archiver import Archiver
from dr_orchestrator.repository.cache import ObjectCache
from dr_orchestrator.repository.chunker import tune_malloc
from dr_orchestrator.repository.crypto import (
    KdfParams,
    Keys,
    object_name,
    open_blob,
    open_doc,
    seal_doc,
    slot_info,
    unwrap_master,
    wrap_master,
)
from dr_orchestrator.repository.format import (
    BLOB_TREE,
    ChunkerParams,
    RepoConfig,
    pack_key,
    parse_time,
    snapshot_key,
)
from dr_orchestrator.repository.index import Index
from dr_orchestrator.repository.locks import DEFAULT_TTL, RepoLock
from dr_orchestrator.repository.progress import Progress
from dr_orchestrator.repository.snapshot import Snapshot, select
from dr_orchestrator.repository.streams import StreamSource
from dr_orchestrator.repository.tree import Node, decode_tree, decode_tree_dicts
from dr_orchestrator.storage.base import Backend

if TYPE_CHECKING:
    from dr_orchestrator.repository.prune import PruneReport
    from dr_orchestrator.repository.restorer import RestoreReport
    from dr_orchestrator.repository.retention import ForgetResult, Policy
    from dr_orchestrator.repository.verify import VerifyReport

tune_malloc()


def _pw(password: str | bytes) -> bytes:
    if not password:
        raise BadInput("an empty password is not allowed", "set DRO_PASSWORD or use --password-file")
    return password.encode() if isinstance(password, str) else password


class Repository:
    def __init__(self, backend: Backend, config: RepoConfig, keys: Keys) -> None:
        self.backend = backend
        self.config = config
        self.keys = keys
        self.cache = ObjectCache(backend, config.id)
        self.index = Index()
        self.lock_ttl = DEFAULT_TTL
        self._trees: dict[str, list[Node]] = {}
        self._snap_cache: dict[str, Snapshot] = {}

    def __repr__(self) -> str:
        return f"Repository({self.backend.url!r}, id={self.config.id[:8]})"

    # --- lifecycle ----------------------------------------------------------

    @classmethod
    def init(cls, backend: Backend, password: str | bytes, *, chunker_params: ChunkerParams | None = None,
             kdf: KdfParams | None = None, pack_size: int | None = None) -> Repository:
        pw = _pw(password)
        try:
            backend.stat("config")
            raise BadInput(f"{backend.url} already holds a repository", "use `dro repo key add` to add a password")
        except ObjectNotFound:
            pass
        config = RepoConfig.new(chunker_params, **({"pack_size": pack_size} if pack_size else {}))
        master = secrets.token_bytes(32)
        backend.put(f"keys/{secrets.token_hex(16)}", wrap_master(master, pw, config.id, kdf))
        try:
            backend.put("config", config.to_bytes(), if_absent=True)
        except ObjectExists as exc:
            raise BadInput(f"{backend.url} already holds a repository") from exc
        return cls(backend, config, Keys(master))

    @classmethod
    def open(cls, backend: Backend, password: str | bytes) -> Repository:
        pw = _pw(password)
        try:
            config = RepoConfig.from_bytes(backend.get("config"))
        except ObjectNotFound as exc:
            raise BadInput(f"no repository at {backend.url}", "create one with `dro repo init URL`") from exc
        for info in backend.list("keys/"):
            master = unwrap_master(backend.get(info.key), pw, config.id)
            if master is not None:
                repo = cls(backend, config, Keys(master))
                repo.key_id = info.key.rsplit("/", 1)[-1]
                repo.index.load(backend, repo.keys, repo.cache.get)
                return repo
        raise WrongPassword("the password opens no key slot of this repository",
                            "check DRO_PASSWORD / --password-file")

    key_id: str = ""

    def add_key(self, password: str | bytes, kdf: KdfParams | None = None) -> str:
        key_id = secrets.token_hex(16)
        self.backend.put(f"keys/{key_id}", wrap_master(self.keys.master, _pw(password), self.config.id, kdf))
        return key_id

    def list_keys(self) -> list[dict[str, Any]]:
        out = []
        for info in self.backend.list("keys/"):
            kid = info.key.rsplit("/", 1)[-1]
            d = slot_info(self.backend.get(info.key))
            d.update(id=kid, current=kid == self.key_id)
            out.append(d)
        return out

    def remove_key(self, key_id: str) -> None:
        ids = [i.key.rsplit("/", 1)[-1] for i in self.backend.list("keys/")]
        match = [k for k in ids if k.startswith(key_id)]
        if len(match) != 1:
            raise BadInput(f"no single key slot {key_id!r}", "run `dro repo key list`")
        if len(ids) == 1:
            raise BadInput("refusing to remove the last key slot", "add another password first")
        if match[0] == self.key_id:
            raise BadInput("refusing to remove the key slot this session opened with",
                           "open the repository with another password to remove this one")
        self.backend.delete(f"keys/{match[0]}")

    def lock(self, *, exclusive: bool, purpose: str) -> RepoLock:
        return RepoLock(self.backend, exclusive=exclusive, purpose=purpose, ttl=self.lock_ttl)

    def close(self) -> None:
        self.backend.close()

    # --- reading objects ----------------------------------------------------

    def read_blob(self, blob_id: bytes, blob_type: str, what: str = "") -> bytes:
        loc = self.index.get(blob_id)
        if loc is None:
            # Another process may have added it since we loaded the index.
            self.reload_index()
            loc = self.index.get(blob_id)
        if loc is None:
            raise IntegrityError(f"{what or 'blob'}: blob {blob_id.hex()[:16]} is not in the index",
                                 "run `dro verify`; the repository is missing data")
        try:
            if blob_type == BLOB_TREE and self.cache.enabled:
                # Tree packs are small and read again and again (ls, diff, incremental backups).
                pack = self.cache.get(pack_key(loc.pack_id))
                stored = pack[loc.offset:loc.offset + loc.length]
            else:
                with self.backend.open_read(pack_key(loc.pack_id), loc.offset, loc.length) as f:
                    stored = f.read()
        except ObjectNotFound as exc:
            raise IntegrityError(f"{what or 'blob'}: pack {loc.pack_id[:16]} is missing") from exc
        return open_blob(self.keys, stored, blob_type, blob_id, loc.ulen,
                         f"{what + ': ' if what else ''}pack {loc.pack_id[:16]}")

    def load_tree(self, tree_id: str, what: str = "tree") -> list[Node]:
        nodes = self._trees.get(tree_id)
        if nodes is None:
            raw = self.read_blob(bytes.fromhex(tree_id), BLOB_TREE, what)
            nodes = decode_tree(raw, f"tree {tree_id[:16]}")
            if len(self._trees) > 4096:
                self._trees.clear()
            self._trees[tree_id] = nodes
        return nodes

    def load_tree_dicts(self, tree_id: str) -> dict[str, dict[str, Any]]:
        """A tree's nodes as raw JSON objects by name (what the archiver compares against)."""
        raw = self.read_blob(bytes.fromhex(tree_id), BLOB_TREE, "tree")
        return decode_tree_dicts(raw, f"tree {tree_id[:16]}")

    def snapshots(self) -> list[Snapshot]:
        # Always list (other processes add and forget snapshots); decode each one once.
        out: list[Snapshot] = []
        for info in self.backend.list("snapshots/"):
            sid = info.key.rsplit("/", 1)[-1]
            if sid in self._snap_cache:
                out.append(self._snap_cache[sid])
                continue
            raw = self.cache.get(info.key)
            if object_name(raw) != sid:
                raise IntegrityError(f"snapshot {sid[:8]} does not match its name (damaged)",
                                     "restore it from a replica or remove it")
            snap = Snapshot.from_doc(sid, open_doc(self.keys, "snapshot", raw, f"snapshot {sid[:8]}"))
            self._snap_cache[sid] = snap
            out.append(snap)
        from dr_orchestrator.repository.verify import load_verified

        verified = load_verified(self.config.id)
        for s in out:
            if s.id in verified:
                s.verified_at = parse_time(verified[s.id])
        return sorted(out, key=lambda s: s.time)

    def find_snapshot(self, ref: str, at: datetime | None = None) -> Snapshot:
        return select(self.snapshots(), ref, at)

    def walk(self, tree_id: str, prefix: str = "") -> Iterator[tuple[str, Node]]:
        """(path, node) of every node below a tree, depth first, directories before their content."""
        for n in self.load_tree(tree_id, f"tree of {prefix or '/'}"):
            path = f"{prefix}/{n.name}"
            yield path, n
            if n.type == "dir" and n.subtree:
                yield from self.walk(n.subtree, path)

    def find_node(self, snapshot: Snapshot, path: str) -> Node:
        parts = [p for p in path.split("/") if p]
        nodes = self.load_tree(snapshot.tree)
        node: Node | None = None
        for i, part in enumerate(parts):
            node = next((n for n in nodes if n.name == part), None)
            if node is None:
                raise BadInput(f"{path} is not in snapshot {snapshot.short_id}", f"try `dro ls {snapshot.short_id}`")
            if i < len(parts) - 1:
                if node.type != "dir" or not node.subtree:
                    raise BadInput(f"{path} is not in snapshot {snapshot.short_id}")
                nodes = self.load_tree(node.subtree)
        if node is None:
            return Node(name="", type="dir", subtree=snapshot.tree)
        return node

    # --- operations ---------------------------------------------------------

    def backup(self, paths: list[str], *, excludes: tuple[str, ...] | list[str] = (),
               tags: tuple[str, ...] | list[str] = (), host: str | None = None,
               streams: list[StreamSource] | tuple[StreamSource, ...] = (), parent: Snapshot | None = None,
               progress: Progress | None = None, retain_until: datetime | None = None,
               threads: int | None = None) -> Snapshot:
        if not paths and not streams:
            raise BadInput("nothing to back up", "give at least one path")
        for p in paths:
            if not os.path.lexists(p):
                raise BadInput(f"{p}: no such file or directory")
        start = time.monotonic()
        hostname = host or socket.gethostname()
        abspaths = sorted(os.path.abspath(p) for p in paths)
        with self.lock(exclusive=False, purpose="backup") as lk:
            if parent is None:
                cands = [s for s in self.snapshots() if s.hostname == hostname and s.paths == abspaths]
                parent = cands[-1] if cands else None
            arch = Archiver(self, excludes=tuple(excludes), progress=progress,
                            threads=threads or min(8, (os.cpu_count() or 2) + 1), lock_check=lk.check,
                            retain_until=retain_until)
            tree = arch.run(abspaths, list(streams), parent.tree if parent else None)
            lk.check()
            # Commit order: packs (uploaded by now) → index → snapshot.
            self.index.write_new(self.backend, self.keys, retain_until)
            st = arch.stats
            summary = {"files": st.files, "dirs": st.dirs, "bytes": st.bytes, "files_new": st.files_new,
                       "files_changed": st.files_changed, "files_unmodified": st.files_unmodified,
                       "blobs_new": st.blobs_new, "bytes_new": st.bytes_new, "errors": st.errors,
                       "duration_s": round(time.monotonic() - start, 3)}
            snap = Snapshot(id="", time=datetime.now(UTC), hostname=hostname, paths=abspaths,
                            tags=sorted(set(tags)), tree=tree, username=_user(),
                            parent=parent.id if parent else None, excludes=list(excludes), summary=summary,
                            streams={s.name: dict(s.metadata) for s in streams}, retain_until=retain_until,
                            program=f"dro {__version__}")
            stored = seal_doc(self.keys, "snapshot", snap.to_doc())
            snap.id = object_name(stored)
            lk.check()
            self.backend.put(snapshot_key(snap.id), stored, retain_until=retain_until)
            return snap

    def restore(self, snapshot: Snapshot, target_dir: str, *, includes: tuple[str, ...] | list[str] = (),
                progress: Progress | None = None) -> RestoreReport:
        from dr_orchestrator.repository.restorer import Restorer

        with self.lock(exclusive=False, purpose="restore"):
            return Restorer(self, progress=progress).run(snapshot, target_dir, tuple(includes))

    @contextmanager
    def open_file(self, snapshot: Snapshot, path: str) -> Iterator[BinaryIO]:
        from dr_orchestrator.repository.restorer import FileReader

        node = self.find_node(snapshot, path)
        if node.type != "file":
            raise BadInput(f"{path} in snapshot {snapshot.short_id} is not a regular file")
        yield FileReader(self, node, path)  # type: ignore[misc]

    def verify(self, read_data: float = 0.0, progress: Progress | None = None) -> VerifyReport:
        from dr_orchestrator.repository.verify import Verifier

        with self.lock(exclusive=False, purpose="verify"):
            return Verifier(self, progress=progress).run(read_data)

    def forget(self, policy: Policy, dry_run: bool = False, *, now: datetime | None = None) -> ForgetResult:
        from dr_orchestrator.repository.retention import apply_policy

        if dry_run:
            return apply_policy(self.snapshots(), policy, now=now)
        with self.lock(exclusive=True, purpose="forget"):
            result = apply_policy(self.snapshots(), policy, now=now)
            for s in result.remove:
                self.backend.delete(snapshot_key(s.id))
            self.cache.forget([snapshot_key(s.id) for s in result.remove])
            return result

    def prune(self, *, dry_run: bool = False, progress: Progress | None = None) -> PruneReport:
        from dr_orchestrator.repository.prune import Pruner

        with self.lock(exclusive=True, purpose="prune") as lk:
            return Pruner(self, lk, progress=progress).run(dry_run=dry_run)

    def reload_index(self) -> None:
        self.index = Index()
        self.index.load(self.backend, self.keys, self.cache.get)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return str(os.getuid())


__all__ = ["Repository", "Snapshot", "StreamSource"]
