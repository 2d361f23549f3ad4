"""The append-only run journal: one JSON line per event, fdatasync'ed before we go on.

Layout: `<state_dir>/runs/<RUN_ID>/journal.jsonl` (state_dir defaults to `.dro`
next to the runbook). The journal is mirrored to the recovery site's storage at
`runs/<RUN_ID>/journal.jsonl` by a background thread (a whole-file upload that
coalesces events), best-effort: an unreachable mirror produces one warning, never a
failed run — the local journal is what `dro resume` needs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution.clock import Clock
from dr_orchestrator.execution.events import Event
from dr_orchestrator.execution.redact import Redactor

log = logging.getLogger(__name__)
JOURNAL_NAME = "journal.jsonl"
# Events written without waiting for fdatasync: they reach the disk with the next
# durable event. A SIGKILL loses nothing (the page cache survives the process); only a
# machine crash can lose one, and then a lost `step_started` makes the step look
# pending, so resume runs it again — exactly what it does with an in-flight step whose
# policy is not rollback (the executor syncs step_started for rollback steps).
LAZY = frozenset({"step_started", "step_output", "step_process", "service_started", "step_retried",
                  "warning"})


def run_dir(state_dir: Path, run_id: str) -> Path:
    return state_dir / "runs" / run_id


def read_journal(path: Path) -> list[Event]:
    """Every complete event of a journal; a torn last line (crash mid-write) is ignored."""
    if not path.exists():
        raise BadInput(f"no journal at {path}", "check the run id with `dro runs` and --state-dir")
    events: list[Event] = []
    with path.open("r", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(Event.from_dict(json.loads(line)))
        except (ValueError, KeyError) as exc:
            if number >= len(lines) - 1:  # the torn tail of a killed writer
                break
            raise BadInput(f"{path}:{number}: corrupt journal line ({exc})") from None
    return events


def repair_tail(path: Path) -> int:
    """Cut a torn last line (a writer killed mid-write) so appends start on a fresh line.

    Returns the number of bytes removed."""
    with path.open("rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return len(data) - keep


class Mirror:
    """Uploads the journal file to a backend whenever it changed (coalesced)."""

    def __init__(self, backend: Any, key: str, path: Path,
                 warn: Callable[[str], None] | None = None) -> None:
        self.backend, self.key, self.path = backend, key, path
        self._warn = warn
        self._dirty = threading.Event()
        self._stop = False
        self._warned = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="dro-journal-mirror")
        self._thread.start()

    def poke(self) -> None:
        self._dirty.set()

    def _loop(self) -> None:
        while True:
            self._dirty.wait()
            stopping = self._stop  # read before uploading: a close() during the upload
            self._dirty.clear()  # sets dirty again, so the final content goes up too
            self._upload()
            if stopping:
                return

    def _upload(self) -> None:
        try:
            self.backend.put(self.key, self.path.read_bytes())
        except Exception as exc:  # best-effort by design: the local journal is authoritative
            if not self._warned:
                self._warned = True
                message = f"journal mirror {getattr(self.backend, 'url', '?')} unreachable: {exc}"
                log.warning(message)
                if self._warn:
                    self._warn(message)

    def close(self, timeout: float = 10.0) -> None:
        self._stop = True
        self._dirty.set()
        self._thread.join(timeout)
        with contextlib.suppress(Exception):  # closing a broken mirror must not fail the run
            self.backend.close()


class Journal:
    """Appends events durably; hands each one to the listeners after it is on disk."""

    def __init__(self, path: Path, clock: Clock, redactor: Redactor | None = None,
                 t0: float = 0.0, mono0: float | None = None, next_seq: int = 1,
                 fsync: bool = True) -> None:
        self.path = path
        self.clock = clock
        self.redactor = redactor or Redactor()
        self._t0 = t0  # offset (s since run start) at mono0
        self._mono0 = clock.monotonic() if mono0 is None else mono0
        self._seq = next_seq
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._synced = 0  # highest seq known to be on disk
        self._fsync = fsync
        self.listeners: list[Callable[[Event], None]] = []
        self.mirror: Mirror | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if fsync:  # make the directory entry durable too
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def now(self) -> float:
        """Seconds since the run started (continued across resumes)."""
        return self._t0 + (self.clock.monotonic() - self._mono0)

    def emit(self, type_: str, *, sync: bool | None = None, **data: Any) -> Event:
        """Append an event; when it must be durable (see LAZY), return only after fdatasync.

        Group commit: a thread finding its event already covered by another thread's
        fdatasync returns at once, so parallel services share syncs."""
        with self._lock:
            event = Event(type=type_, t=self.now(), ts=self.clock.wall(), seq=self._seq,
                          data=data)
            line = self.redactor.redact(event.to_json())
            os.write(self._fd, (line + "\n").encode("utf-8"))
            seq = self._seq
            self._seq += 1
            if self.redactor:  # listeners see what the journal holds, never a secret
                event = Event.from_dict(json.loads(line))
            for listener in self.listeners:  # under the lock: everyone sees journal order
                listener(event)
        if self._fsync and (sync if sync is not None else type_ not in LAZY):
            self._sync(seq)
        if self.mirror is not None:
            self.mirror.poke()
        return event

    def _sync(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return
            with self._lock:
                upto = self._seq - 1
            os.fdatasync(self._fd)
            self._synced = upto

    def close(self) -> None:
        if self.mirror is not None:
            self.mirror.close()
            self.mirror = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
