"""Local-directory backend: the embedded default.

Writes are atomic: data goes to a temp file (`.dro-tmp-*`) in the same directory, is
fsynced, renamed into place, and the directory is fsynced, so a crash never leaves a
partial object visible under its key. A process killed mid-put leaves its temp file
behind (listings skip it). `sweep_temps` removes those older than a given age; prune
calls it on its repository, and `dro replicate` at a target it writes through this backend.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_mod
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from dr_orchestrator.errors import ObjectExists, ObjectNotFound, PermissionDenied, StorageUnavailable
from dr_orchestrator.storage.base import (
    REPO_DIRS,
    Backend,
    Capabilities,
    ObjectInfo,
    SweepResult,
    validate_key,
    validate_prefix,
)
from dr_orchestrator.storage.base import TEMP_PREFIX as _TMP_PREFIX

_Problems = list[str]  # (`list` in the class body is LocalBackend.list)
_COPY_BUF = 1 << 20


class LocalBackend:
    capabilities = Capabilities(server_side_copy=True, conditional_put=True, object_lock=False,
                                checksums=(), atomic_put=True)

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        self.root = Path(root).resolve()
        self.url = f"file://{self.root}"
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise StorageUnavailable(f"{self.url}: no such directory",
                                     "create it or check the site's storage URL")

    def __repr__(self) -> str:
        return f"LocalBackend({self.url!r})"

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False,
            retain_until: datetime | None = None) -> None:
        import shutil  # here: shutil loads bz2 and lzma, tempfile loads random…: a `dro` run
        import tempfile  # reading a repository (or replicating to a directory) needs neither

        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        except PermissionError as exc:
            raise PermissionDenied(f"{self.url}: cannot write {key}") from exc
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(data, bytes | bytearray | memoryview):
                    f.write(data)
                else:
                    shutil.copyfileobj(data, f, _COPY_BUF)
                f.flush()
                os.fsync(f.fileno())
            if if_absent:
                # link() fails if the target exists: an atomic create-only rename.
                try:
                    os.link(tmp, path)
                except FileExistsError as exc:
                    raise ObjectExists(f"{self.url}: {key} already exists") from exc
                finally:
                    os.unlink(tmp)
            else:
                os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        path = self._path(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"{self.url}: {key} not found") from exc
        except IsADirectoryError as exc:
            raise ObjectNotFound(f"{self.url}: {key} not found") from exc
        try:
            if offset:
                f.seek(offset)
            if length is None:
                yield f  # type: ignore[misc]
            else:
                yield _Limited(f, length)  # type: ignore[misc]
        finally:
            f.close()

    def get(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"{self.url}: {key} not found") from exc
        if not path.is_file():
            raise ObjectNotFound(f"{self.url}: {key} not found")
        return ObjectInfo(key=key, size=st.st_size, modified=datetime.fromtimestamp(st.st_mtime, UTC))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        # Walk only the directory the prefix names, then filter by the rest.
        base_dir = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base_dir.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base_dir):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            for name in sorted(filenames):
                if name.startswith(_TMP_PREFIX):
                    continue
                key = rel_dir + name
                if not key.startswith(prefix):
                    continue
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue
                yield ObjectInfo(key=key, size=st.st_size,
                                 modified=datetime.fromtimestamp(st.st_mtime, UTC))

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise PermissionDenied(f"{self.url}: cannot delete {key}") from exc
            raise

    def sweep_temps(self, older_than: float) -> SweepResult:
        """Remove the temp files of puts killed mid-write (TempSweeper in base.py) in the
        root and the repository's directories, on the root's file system. One scandir per
        directory; only temp-named entries cost a stat."""
        cutoff = time.time() - older_than
        removed = 0
        problems: _Problems = []
        try:
            dev = os.stat(self.root).st_dev
        except FileNotFoundError:
            return 0, []
        except OSError as exc:
            return 0, [f"{self.root}: {exc.strerror or exc}"]
        for e in scan_tree(str(self.root), problems, repo_dirs_on(dev)):
            try:
                if e.name.startswith(_TMP_PREFIX) and stale_file(e, cutoff):
                    os.unlink(e.path)
                    removed += 1
            except FileNotFoundError:
                continue  # committed (renamed) or removed meanwhile
            except OSError as exc:
                problems.append(f"{e.path}: {exc.strerror or exc}")
        return removed, problems

    def copy_from(self, source: Backend, src_key: str, dst_key: str) -> bool:
        if not isinstance(source, LocalBackend):
            return False
        with source.open_read(src_key) as f:
            self.put(dst_key, f)
        return True

    def close(self) -> None:
        return None


class _Limited:
    """A read-only view of at most `length` bytes of a file object."""

    def __init__(self, f: BinaryIO, length: int) -> None:
        self._f = f
        self._left = length

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if n < 0 or n > self._left:
            n = self._left
        data = self._f.read(n)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True


def scan_tree(root: str, problems: list[str],
              descend: Callable[[os.DirEntry[str], bool], bool] | None = None) -> Iterator[os.DirEntry[str]]:
    """Every entry under `root` that is not a directory, depth first, symlinks never
    followed. `descend(entry, at_root)` may refuse a directory. A directory that cannot be
    read (or asked about) goes to `problems`; one removed meanwhile is skipped."""
    stack = [(root, True)]
    while stack:
        top, at_root = stack.pop()
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            problems.append(f"{top}: {exc.strerror or exc}")
            continue
        for e in entries:
            try:
                if not e.is_dir(follow_symlinks=False):
                    yield e
                elif descend is None or descend(e, at_root):
                    stack.append((e.path, False))
            except FileNotFoundError:
                continue
            except OSError as exc:
                problems.append(f"{e.path}: {exc.strerror or exc}")


def repo_dirs_on(dev: int) -> Callable[[os.DirEntry[str], bool], bool]:
    """scan_tree's `descend` for a repository: at the root only its own directories, and
    nowhere another file system (a mount point inside it)."""
    def descend(e: os.DirEntry[str], at_root: bool) -> bool:
        return (not at_root or e.name in REPO_DIRS) and e.stat(follow_symlinks=False).st_dev == dev
    return descend


def stale_file(entry: os.DirEntry[str], cutoff: float, uid: int | None = None) -> bool:
    """A regular file (never through a symlink) last modified before `cutoff` (a stamp of
    0 or less says nothing: never stale), owned by `uid` if given."""
    st = entry.stat(follow_symlinks=False)
    return (stat_mod.S_ISREG(st.st_mode) and 0 < st.st_mtime < cutoff
            and (uid is None or st.st_uid == uid))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
