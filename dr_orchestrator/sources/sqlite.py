"""SQLite: a consistent copy through the online backup API, restored atomically.

Copying a live database file can catch a half-written transaction; `Connection.backup`
copies a consistent snapshot (in one step, so a busy writer cannot keep restarting it)
into a private temp file, which is checked (`PRAGMA quick_check`) and then streamed into
the repository. Restore writes a temp file beside the target, checks it, fsyncs it, and
renames it over the target, so a reader sees the old database or the new one, never half.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from dr_orchestrator.errors import BadInput, IntegrityError
from dr_orchestrator.repository.streams import StreamSource
from dr_orchestrator.sources.process import SourceFailed, copy_stream

BUSY_TIMEOUT_S = 30.0


def stream_name(path: str | Path, source_name: str | None = None) -> str:
    """`sqlite/<file name>` by default (`<source name>/<file name>` when named)."""
    return f"{source_name or 'sqlite'}/{Path(path).name}"


def _check(db: str, what: str) -> None:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise IntegrityError(f"{what} is not a valid SQLite database: {exc}") from None
    finally:
        con.close()
    if rows != [("ok",)]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise IntegrityError(f"{what} failed its integrity check: {detail}")


def snapshot_to(src: str | Path, dst: str | Path) -> None:
    """Consistent online copy of database `src` into the (new) file `dst`."""
    path = Path(src)
    if not path.is_file():
        raise BadInput(f"SQLite database {path} does not exist", "check the source's `path`")
    try:
        # mode=rw: never create an empty database where the real one is missing.
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise SourceFailed(f"cannot open SQLite database {path}: {exc}") from None
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target, pages=-1)
    except sqlite3.Error as exc:
        raise SourceFailed(f"online backup of SQLite database {path} failed: {exc}",
                           "is the file a SQLite database, and is it locked for longer than "
                           f"{BUSY_TIMEOUT_S:g} s?") from None
    finally:
        target.close()
        source.close()
    _check(str(dst), f"the backup copy of {path}")


def backup_source(path: str | Path, *, source_name: str | None = None,
                  spool_dir: str | None = None) -> StreamSource:
    """A StreamSource yielding a consistent copy of the database at `path`."""
    path = Path(path)

    @contextlib.contextmanager
    def open_stream() -> Iterator[BinaryIO]:
        with tempfile.TemporaryDirectory(prefix="dro-sqlite-", dir=spool_dir) as tmp:
            copy = os.path.join(tmp, "copy.db")
            snapshot_to(path, copy)
            with open(copy, "rb") as f:
                yield f

    return StreamSource(name=stream_name(path, source_name), open=open_stream,
                        metadata={"source": "sqlite", "path": str(path)})


def restore_stream(data: BinaryIO, target: str | Path) -> int:
    """Write the database in `data` to `target` atomically; returns its size."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".restoring", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            size = copy_stream(data, f)
            f.flush()
            os.fsync(f.fileno())
        _check(tmp, "the restored database")
        with contextlib.suppress(FileNotFoundError):  # keep the replaced database's permissions
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        # A stale WAL/journal of the old database must not be replayed onto the new one.
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{target}{suffix}")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dirfd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
    return size


def restore_from_repository(repo: Any, snapshot: Any, path: str, target: str | Path) -> int:
    with repo.open_file(snapshot, path) as data:
        return restore_stream(data, target)
