"""One run per plan at a time: an O_EXCL lock file with pid, hostname and heartbeat.

`<state_dir>/locks/<plan_hash>.lock` holds JSON {run_id, pid, host, heartbeat}.
A heartbeat thread rewrites it every `heartbeat_s`. A lock is stale — and taken
over, with a note — when its process is gone (same host, pid not alive) or its
heartbeat is older than `stale_after_s` (another host, or a frozen process).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import LockHeld


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PlanLock:
    def __init__(self, path: Path, run_id: str, heartbeat_s: float = 5.0,
                 stale_after_s: float = 60.0) -> None:
        self.path = path
        self.run_id = run_id
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.took_over: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> bytes:
        return json.dumps({"run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname(),
                           "heartbeat": time.time()}).encode()

    def read(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return None

    def is_stale(self, info: dict[str, Any] | None) -> bool:
        if info is None:  # unreadable: a writer died between create and write
            try:
                return time.time() - self.path.stat().st_mtime > self.stale_after_s
            except OSError:
                return True
        if info.get("host") == socket.gethostname() and not _pid_alive(int(info.get("pid", 0))):
            return True
        return time.time() - float(info.get("heartbeat", 0)) > self.stale_after_s

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                info = self.read()
                if not self.is_stale(info):
                    holder = info or {}
                    raise LockHeld(
                        f"another run of this plan is in progress (run {holder.get('run_id')}, "
                        f"pid {holder.get('pid')} on {holder.get('host')})",
                        "wait for it to finish, or resume it with `dro resume RUN_ID`; a lock whose "
                        "process died is taken over automatically") from None
                self.took_over = info
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            try:
                os.write(fd, self._record())
                os.fsync(fd)
            finally:
                os.close(fd)
            self._thread = threading.Thread(target=self._beat, daemon=True, name="dro-lock-heartbeat")
            self._thread.start()
            return
        raise LockHeld(f"could not take the lock {self.path}", "try again")

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            tmp = self.path.with_suffix(".tmp")
            try:
                info = self.read()
                if info is None or info.get("run_id") != self.run_id:
                    return  # someone took it over: never overwrite their lock
                tmp.write_bytes(self._record())
                os.replace(tmp, self.path)
            except OSError:
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        info = self.read()
        if info is not None and info.get("run_id") == self.run_id:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> PlanLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
