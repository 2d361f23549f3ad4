"""What a replication (or repair) run did, for humans, `--json` and metrics."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Counters:
    """Thread-safe byte/object counters updated by the transfer threads."""

    objects_copied: int = 0
    objects_server_side: int = 0
    objects_streamed: int = 0
    bytes_streamed: int = 0  # bytes that flowed through this process source → target
    bytes_server_side: int = 0  # bytes the providers copied without us
    bytes_verify_read: int = 0  # bytes read back only to check a content hash
    objects_verified: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, value in deltas.items():
                setattr(self, name, getattr(self, name) + value)

    def add_streamed(self, nbytes: int, verified: bool) -> None:
        """add(objects_copied=1, objects_streamed=1, bytes_streamed=nbytes, objects_verified=…),
        without the keyword dict: this runs once per copied object."""
        with self._lock:
            self.objects_copied += 1
            self.objects_streamed += 1
            self.bytes_streamed += nbytes
            if verified:
                self.objects_verified += 1

    def to_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass
class ReplicationReport:
    """What one replication (or repair) did; `--json` prints to_dict()."""
    source: str
    target: str
    dry_run: bool = False
    source_objects: int = 0
    target_objects_before: int = 0
    to_copy: int = 0  # objects missing (or bad) at the target when the run started
    to_copy_bytes: int = 0
    already_present: int = 0
    counters: Counters = field(default_factory=Counters)
    resent_corrupt_target: list[str] = field(default_factory=list)
    source_corrupt: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    snapshots_new: list[str] = field(default_factory=list)
    snapshots_copied: list[str] = field(default_factory=list)
    snapshots_held_back: dict[str, str] = field(default_factory=dict)
    objects_held_back: list[str] = field(default_factory=list)  # index objects naming a failed pack
    deleted: list[str] = field(default_factory=list)
    kept_immutable: list[str] = field(default_factory=list)
    unrecoverable: list[str] = field(default_factory=list)  # repair: bad here and not at the replica
    warnings: list[str] = field(default_factory=list)
    stale_temp_files_removed: int = 0  # left at the target by a killed run (localfast.sweep_stale_temps)
    stopped: bool = False  # a stop request ended the run early (nothing partial was written)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.source_corrupt or self.failed or self.snapshots_held_back
                    or self.unrecoverable or self.stopped)

    @property
    def bytes_transferred(self) -> int:
        return self.counters.bytes_streamed + self.counters.bytes_server_side

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if k != "counters"}
        out["counters"] = self.counters.to_dict()
        out["ok"] = self.ok
        out["bytes_transferred"] = self.bytes_transferred
        return out
