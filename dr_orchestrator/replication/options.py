"""How a replication runs: its options and the progress it reports (replicator.py runs it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from dr_orchestrator.replication import listcache

if TYPE_CHECKING:
    from dr_orchestrator.replication.graph import SnapshotFilter, SnapshotGraph


class Progress(Protocol):
    def phase(self, name: str, objects: int, nbytes: int) -> None: ...
    def advance(self, objects: int, nbytes: int) -> None: ...


class NoProgress:
    def phase(self, name: str, objects: int, nbytes: int) -> None:
        return None

    def advance(self, objects: int, nbytes: int) -> None:
        return None


class Options:
    """How a replication runs (see `dro replicate --help` for the user-facing ones).

    A plain class, not a dataclass: `dro replicate` imports this module on every start
    (storage/base.py says what dataclasses cost there)."""

    def __init__(self, *, dry_run: bool = False, workers: int = 8, bandwidth: int | None = None,
                 verify: str = "content", server_side: bool | None = None,
                 retain_until: datetime | None = None, mirror_deletes: bool = True, deep: bool = False,
                 memory_budget: int = 256 << 20, in_memory_max: int = 64 << 20, local_fast: bool = True,
                 listing_cache: bool | None = None, graph: SnapshotGraph | None = None,
                 snapshot_filter: SnapshotFilter | None = None, progress: Progress | None = None,
                 stop: threading.Event | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.dry_run = dry_run
        self.workers = workers
        self.bandwidth = bandwidth  # bytes/s for all threads together
        self.verify = verify  # "content": every object's BLAKE3 checked; "checksum": provider checksums
        self.server_side = server_side  # None: when the providers allow it
        self.retain_until = retain_until  # object lock on everything written
        self.mirror_deletes = mirror_deletes
        self.deep = deep  # hash every object already at the target, re-send the bad ones
        self.memory_budget = memory_budget
        self.in_memory_max = in_memory_max
        self.local_fast = local_fast  # local targets: atomic renames + one syncfs per phase (localfast.py)
        # Local ends: answer unchanged directories from the listing cache (listcache.py);
        # off with DRO_LISTING_CACHE=0. `deep` lists everything in full either way.
        self.listing_cache = listcache.enabled() if listing_cache is None else listing_cache
        self.graph = graph
        self.snapshot_filter = snapshot_filter
        self.progress: Progress = NoProgress() if progress is None else progress
        self.stop = threading.Event() if stop is None else stop
        self.now = now

    def replace(self, **changes: Any) -> Options:
        """A copy with `changes` applied (names as in __init__)."""
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"Options has no {', '.join(sorted(unknown))}")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, **changes)
        return new

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k not in ("progress", "stop"))
        return f"Options({shown})"
