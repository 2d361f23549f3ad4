"""The scheduler's memory between restarts: last run per data class (a small JSON file).

Lives in a local state dir ($DRO_STATE_DIR, else $XDG_STATE_HOME/dro, else
~/.local/state/dro), one file per runbook. Written atomically (temp + rename), so a
crash never leaves a torn file; an unreadable file is treated as empty (worst case: a
catch-up run is skipped once) and reported.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    if os.environ.get("DRO_STATE_DIR"):
        return Path(os.environ["DRO_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "dro"


def write_atomic(path: Path, data: bytes) -> None:
    import tempfile  # here: it loads random, shutil… that most `dro` runs never need

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.warning: str | None = None
        self._data: dict[str, Any] = self._load()

    @classmethod
    def for_runbook(cls, name: str) -> StateStore:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "runbook"
        return cls(state_dir() / f"schedule-{safe}.json")

    def _load(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text())
            return doc if isinstance(doc, dict) else {}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self.warning = f"state file {self.path} unreadable ({exc}); starting without run history"
            return {}

    def last_run(self, job: str) -> datetime | None:
        entry = self._data.get(job, {})
        value = entry.get("last_run") if isinstance(entry, dict) else None
        return datetime.fromisoformat(value) if value else None

    def get(self, job: str) -> dict[str, Any]:
        return dict(self._data.get(job, {}))

    def record(self, job: str, **fields: Any) -> None:
        with self._lock:
            entry = self._data.setdefault(job, {})
            entry.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()})
            write_atomic(self.path, json.dumps(self._data, indent=2, sort_keys=True).encode())
