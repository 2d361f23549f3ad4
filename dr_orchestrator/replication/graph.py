"""Which objects a snapshot needs: the one thing replication cannot see without the password.

Object copying needs no password. Deciding *which* snapshots may be published at the
target after some source object failed verification, and which target packs are safe to
prune, needs the repository's index. `SnapshotGraph` is that view; the repository-backed
implementation lives in `replication/repo_graph.py` and tests can pass a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class SnapshotGraph(Protocol):
    def snapshot_needs(self, snapshot_id: str) -> set[str]:
        """Storage keys (data packs and index objects) the snapshot cannot be read without."""
        ...

    def index_packs(self, index_id: str) -> set[str]:
        """Storage keys of the packs one index object describes."""
        ...

    def indexed_packs(self) -> set[str]:
        """Storage keys of every pack the source's index still references."""
        ...


# verify_before_replicate: given new snapshot ids, return {id: reason} for those that
# must be held back (not verified, or verification failed).
SnapshotFilter = Callable[[list[str]], dict[str, str]]
