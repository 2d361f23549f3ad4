"""Local cache of immutable objects for remote repositories: index, snapshots and tree packs.

Everything cached is named by the BLAKE3 of its bytes, so an entry is either
exactly right or detectably wrong (then it is dropped and fetched again). Opening
a repository on S3 or SFTP then costs one listing instead of one GET per index
object, and an incremental backup reads parent trees from disk instead of issuing
a ranged GET per directory. Local repositories are not cached (no gain); set
DRO_NO_CACHE=1 to disable it. `--read-data` verification never uses the cache.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from dr_orchestrator.repository.crypto import object_name
from dr_orchestrator.storage.base import Backend


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dro"


class ObjectCache:
    def __init__(self, backend: Backend, repo_id: str) -> None:
        self.backend = backend
        self.enabled = not backend.url.startswith("file://") and os.environ.get("DRO_NO_CACHE") != "1"
        self.dir = cache_root() / repo_id

    def get(self, key: str) -> bytes:
        """The object at `key` (its last path segment must be the BLAKE3 of its bytes)."""
        if not self.enabled:
            return self.backend.get(key)
        path = self.dir / key
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            if object_name(data) == key.rsplit("/", 1)[-1]:
                return data
            path.unlink()
        data = self.backend.get(key)
        if object_name(data) == key.rsplit("/", 1)[-1]:
            self._store(path, data)
        return data

    def _store(self, path: Path, data: bytes) -> None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)

    def forget(self, keys: list[str]) -> None:
        """Drop entries of objects that were deleted (prune, forget)."""
        for key in keys:
            with contextlib.suppress(OSError):
                (self.dir / key).unlink()
