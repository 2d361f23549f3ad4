"""Repository locks with expiry and heartbeat (docs/repository-format.md §8).

A lock object expires `ttl` after its last refresh, so a crashed run blocks the
next one for at most `ttl`; a live holder refreshes every `ttl/5`. If refreshing
fails for so long that our lock may have expired, `check()` raises so the holder
stops before someone else (e.g. prune) can act on a repository it still uses.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dr_orchestrator.errors import DRError, LockHeld, ObjectNotFound
from dr_orchestrator.repository.format import parse_time, utc_iso
from dr_orchestrator.storage.base import Backend

DEFAULT_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class LockInfo:
    key: str
    exclusive: bool
    hostname: str
    pid: int
    purpose: str
    created: datetime
    expires: datetime

    def stale(self, now: datetime) -> bool:
        return self.expires <= now

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "exclusive": self.exclusive, "hostname": self.hostname, "pid": self.pid,
                "purpose": self.purpose, "created": utc_iso(self.created), "expires": utc_iso(self.expires)}


def list_locks(backend: Backend) -> list[LockInfo]:
    out = []
    for info in backend.list("locks/"):
        try:
            d = json.loads(backend.get(info.key))
            out.append(LockInfo(info.key, bool(d["exclusive"]), str(d["hostname"]), int(d["pid"]),
                                str(d.get("purpose", "")), parse_time(d["created"]), parse_time(d["expires"])))
        except ObjectNotFound:
            continue
        except (ValueError, KeyError, TypeError):
            # Unreadable lock: treat as stale after the default ttl from its mtime.
            mod = info.modified or datetime.now(UTC)
            out.append(LockInfo(info.key, True, "?", 0, "unreadable", mod, mod + DEFAULT_TTL))
    return out


class RepoLock:
    """Context manager holding a shared or exclusive lock with a heartbeat thread."""

    def __init__(self, backend: Backend, *, exclusive: bool, purpose: str,
                 ttl: timedelta = DEFAULT_TTL) -> None:
        self.backend = backend
        self.exclusive = exclusive
        self.purpose = purpose
        self.ttl = ttl
        self.key: str | None = None
        self.created = datetime.now(UTC)
        self.expires = self.created
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _write(self) -> str:
        now = datetime.now(UTC)
        doc = {"version": 1, "exclusive": self.exclusive, "hostname": socket.gethostname(), "pid": os.getpid(),
               "purpose": self.purpose, "created": utc_iso(self.created), "expires": utc_iso(now + self.ttl)}
        key = f"locks/{secrets.token_hex(16)}"
        self.backend.put(key, json.dumps(doc).encode())
        self.expires = now + self.ttl
        return key

    def acquire(self) -> RepoLock:
        self.key = self._write()
        now = datetime.now(UTC)
        for other in list_locks(self.backend):
            if other.key == self.key or other.stale(now):
                continue
            if self.exclusive or other.exclusive:
                self.backend.delete(self.key)
                self.key = None
                raise LockHeld(
                    f"the repository is locked ({'exclusive' if other.exclusive else 'shared'} lock for "
                    f"{other.purpose or 'unknown'} by {other.hostname} pid {other.pid}, "
                    f"expires {utc_iso(other.expires)})",
                    "wait for that run to finish; a crashed run's lock expires on its own, or "
                    "`dro unlock` removes stale locks")
        self._thread = threading.Thread(target=self._heartbeat, name="dro-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        interval = self.ttl.total_seconds() / 5
        while not self._stop.wait(interval):
            try:
                with self._mutex:
                    if self.key is None:
                        return
                    old, self.key = self.key, self._write()
                    self.backend.delete(old)
            except Exception:  # noqa: BLE001, S112 - retried next tick; check() stops the holder if it expires
                continue

    def check(self) -> None:
        """Raise if our lock may have expired (heartbeat failing): the holder must stop."""
        if self.key is not None and datetime.now(UTC) >= self.expires - self.ttl / 10:
            raise DRError("lost the repository lock (could not refresh it in time)",
                          "check connectivity to the repository and run again")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._mutex:
            if self.key is not None:
                try:
                    self.backend.delete(self.key)
                finally:
                    self.key = None

    def __enter__(self) -> RepoLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def remove_locks(backend: Backend, *, all_locks: bool = False) -> list[LockInfo]:
    now = datetime.now(UTC)
    removed = []
    for lk in list_locks(backend):
        if all_locks or lk.stale(now):
            backend.delete(lk.key)
            removed.append(lk)
    return removed
