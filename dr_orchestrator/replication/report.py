"""What a replication (or repair) run did, for humans, `--json` and metrics."""

from __future__ import annotations

import threading
from typing import Any

# Plain classes, not dataclasses: `dro replicate` imports this module on every start
# (storage/base.py says what dataclasses cost there).


class Counters:
    """Thread-safe byte/object counters updated by the transfer threads."""

    def __init__(self) -> None:
        self.objects_copied = 0
        self.objects_server_side = 0
        self.objects_streamed = 0
        self.bytes_streamed = 0  # bytes that flowed through this process source → target
        self.bytes_server_side = 0  # bytes the providers copied without us
        self.bytes_verify_read = 0  # bytes read back only to check a content hash
        self.objects_verified = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Counters({self.to_dict()})"

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


class ReplicationReport:
    """What one replication (or repair) did; `--json` prints to_dict()."""

    def __init__(self, source: str, target: str, *, dry_run: bool = False) -> None:
        self.source = source
        self.target = target
        self.dry_run = dry_run
        self.source_objects = 0
        self.target_objects_before = 0
        self.to_copy = 0  # objects missing (or bad) at the target when the run started
        self.to_copy_bytes = 0
        self.already_present = 0
        self.counters = Counters()
        self.resent_corrupt_target: list[str] = []
        self.source_corrupt: list[str] = []
        self.failed: dict[str, str] = {}
        self.snapshots_new: list[str] = []
        self.snapshots_copied: list[str] = []
        self.snapshots_held_back: dict[str, str] = {}
        self.objects_held_back: list[str] = []  # index objects naming a failed pack
        self.deleted: list[str] = []
        self.kept_immutable: list[str] = []
        self.unrecoverable: list[str] = []  # repair: bad here and not at the replica
        self.warnings: list[str] = []
        self.stale_temp_files_removed = 0  # left at the target by a killed run (Replicator._sweep_temps)
        self.stopped = False  # a stop request ended the run early (nothing partial was written)
        self.seconds = 0.0

    def __repr__(self) -> str:
        return f"ReplicationReport({self.source!r} → {self.target!r}, ok={self.ok}, seconds={self.seconds})"

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
