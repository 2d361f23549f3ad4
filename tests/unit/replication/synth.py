"""A synthetic repository that follows the object layout contract (plaintext, for tests).

Objects are content-addressed exactly like a real repository (name = BLAKE3 of the
bytes); index and snapshot objects are plaintext JSON here so a checker can see what a
snapshot needs without a password. `FakeGraph` is the SnapshotGraph over it.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dr_orchestrator.replication import layout
from dr_orchestrator.storage.base import Backend


@dataclass
class SynthRepo:
    backend: Backend
    repo_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    packs: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)  # key -> bytes written

    def init(self) -> SynthRepo:
        self._put("config", json.dumps({"format": "dro-repository", "version": 1, "id": self.repo_id}).encode())
        self._put(f"keys/{uuid.uuid4().hex}", os.urandom(180))
        return self

    def _put(self, key: str, data: bytes) -> None:
        self.backend.put(key, data)
        self.contents[key] = data

    def add_snapshot(self, n_packs: int = 3, size: int = 2048, *, tags: tuple[str, ...] = ("db",),
                     time: datetime | None = None, rng: random.Random | None = None,
                     cumulative: bool = True, pad: int = 0) -> str:
        """Commit like a backup: packs, then an index naming them, then the snapshot.

        cumulative: the snapshot needs every pack so far (dedup against earlier ones);
        otherwise only its own packs and index (so pruning an older one frees objects)."""
        rng = rng or random.Random()
        new = []
        for _ in range(n_packs):
            data = rng.randbytes(size + rng.randrange(size // 2 + 1))
            pid = layout.hash_bytes(data)
            self._put(layout.data_key(pid), data)
            new.append(pid)
        self.packs += new
        index = json.dumps({"packs": new, "nonce": rng.random()}).encode()
        iid = layout.hash_bytes(index)
        self._put(f"index/{iid}", index)
        snap = json.dumps({"time": (time or datetime.now(UTC)).isoformat(), "tags": list(tags),
                           "packs": list(self.packs) if cumulative else new,
                           "index": self.index_ids() if cumulative else [iid],
                           "pad": rng.randbytes(pad).hex()}).encode()
        sid = layout.hash_bytes(snap)
        self._put(f"snapshots/{sid}", snap)
        self.snapshots.append(sid)
        return sid

    def index_ids(self) -> list[str]:
        return [k.split("/")[1] for k in self.contents if k.startswith("index/")]


def synth_repo(backend: Backend, *, snapshots: int = 3, packs: int = 3, size: int = 2048,
               rng: random.Random | None = None) -> SynthRepo:
    """A repository at `backend` with `snapshots` snapshots of `packs` packs each."""
    repo = SynthRepo(backend).init()
    for _ in range(snapshots):
        repo.add_snapshot(n_packs=packs, size=size, rng=rng)
    return repo


def stored_objects(backend: Backend) -> dict[str, bytes]:
    """Every object at `backend`: key -> bytes (to compare with SynthRepo.contents)."""
    return {i.key: backend.get(i.key) for i in backend.list("")}


def snapshot_needs(backend: Backend, sid: str) -> set[str]:
    doc = json.loads(backend.get(f"snapshots/{sid}"))
    return {layout.data_key(p) for p in doc["packs"]} | {f"index/{i}" for i in doc["index"]}


class FakeGraph:
    """SnapshotGraph over a synthetic repository (what the password would give)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def snapshot_needs(self, snapshot_id: str) -> set[str]:
        return snapshot_needs(self.backend, snapshot_id)

    def index_packs(self, index_id: str) -> set[str]:
        return {layout.data_key(p) for p in json.loads(self.backend.get(f"index/{index_id}"))["packs"]}

    def indexed_packs(self) -> set[str]:
        out: set[str] = set()
        for info in self.backend.list("index/"):
            out |= {layout.data_key(p) for p in json.loads(self.backend.get(info.key))["packs"]}
        return out


def incomplete_snapshots(backend: Backend) -> dict[str, set[str]]:
    """Snapshots visible at `backend` that miss objects they need (must always be empty)."""
    # Snapshots first: whatever they need was written before them, so a later listing of
    # everything must contain it (listing everything first could race a running copy).
    snaps = sorted(i.key for i in backend.list("snapshots/"))
    keys = {i.key for i in backend.list("")}
    bad = {}
    for key in snaps:
        try:
            missing = snapshot_needs(backend, key.split("/")[1]) - keys
        except Exception as exc:  # a snapshot that cannot be read is incomplete too
            missing = {f"unreadable: {exc}"}
        if missing:
            bad[key] = missing
    return bad


def flip_byte(path: str, offset: int = 10) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
