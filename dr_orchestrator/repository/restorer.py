"""Restore: packs are read in parallel, every blob verified, bytes written with pwrite.

Safety: tree names were validated when decoded (no '..', '/', duplicates); files
are opened with O_NOFOLLOW, existing directories must be real directories, and
symlinks are created only after all data is written, so nothing is written
outside the target whatever the snapshot says.
"""

from __future__ import annotations

import fnmatch
import io
import os
import stat as stat_mod
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dr_orchestrator.errors import BadInput, IntegrityError, ObjectNotFound
from dr_orchestrator.repository.crypto import open_blob
from dr_orchestrator.repository.format import BLOB_DATA, pack_key
from dr_orchestrator.repository.index import BlobLocation
from dr_orchestrator.repository.progress import NullProgress, Progress
from dr_orchestrator.repository.snapshot import Snapshot
from dr_orchestrator.repository.tree import Node

if TYPE_CHECKING:
    from dr_orchestrator.repository.repo import Repository

_GAP = 1 << 20  # read across gaps smaller than this instead of issuing another request


@dataclass
class RestoreReport:
    snapshot: str
    target: str
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _matches(path: str, includes: tuple[str, ...]) -> bool:
    for inc in includes:
        inc = "/" + inc.strip("/")
        if path == inc or path.startswith(inc + "/") or fnmatch.fnmatchcase(path, inc):
            return True
        if any(fnmatch.fnmatchcase(path[: i], inc) for i in range(len(path)) if path[i] == "/"):
            return True
    return False


class Restorer:
    def __init__(self, repo: Repository, *, progress: Progress | None = None, threads: int = 4) -> None:
        self.repo = repo
        self.progress = progress or NullProgress()
        self.threads = threads
        self.root_uid = os.geteuid() == 0

    def run(self, snap: Snapshot, target: str, includes: tuple[str, ...]) -> RestoreReport:
        start = time.monotonic()
        os.makedirs(target, exist_ok=True)
        root = os.path.realpath(target)
        report = RestoreReport(snapshot=snap.id, target=root)
        entries = list(self.repo.walk(snap.tree))
        if includes:
            wanted = [(p, n) for p, n in entries if _matches(p, includes)]
            if not wanted:
                raise BadInput(f"nothing in snapshot {snap.short_id} matches {', '.join(includes)}",
                               f"list it with `dro ls {snap.short_id}`")
            keep_dirs = {p.rsplit("/", i)[0] for p, _ in wanted for i in range(1, p.count("/"))}
            entries = [(p, n) for p, n in entries if _matches(p, includes) or p in keep_dirs]
        dirs: list[tuple[str, Node]] = []
        files: list[tuple[str, Node]] = []
        links: list[tuple[str, str]] = []
        others: list[tuple[str, Node]] = []
        first_of: dict[tuple[int, int], str] = {}
        for path, node in entries:
            dest = root + path
            if node.type == "dir":
                _mkdir(dest)
                dirs.append((dest, node))
            elif node.type == "file":
                key = (node.dev, node.inode)
                if node.nlink > 1 and key in first_of:
                    links.append((first_of[key], dest))
                    continue
                if node.nlink > 1:
                    first_of[key] = dest
                files.append((dest, node))
            else:
                others.append((dest, node))
        self.progress.set_total(sum(n.size for _, n in files))
        self._write_files(files)
        for dest, node in files:
            self._meta(dest, node)
            report.files += 1
            report.bytes += node.size
        for src, dest in links:
            _unlink_if_file(dest)
            os.link(src, dest, follow_symlinks=False)
            report.files += 1
        for dest, node in others:
            self._special(dest, node, report)
        for dest, node in reversed(dirs):
            self._meta(dest, node)
            report.dirs += 1
        report.duration_s = round(time.monotonic() - start, 3)
        return report

    def _write_files(self, files: list[tuple[str, Node]]) -> None:
        # blob → (pack location, [(file, offset, create)]); a file is created at its final size first
        # so holes stay holes (sparse) and pwrite can fill chunks in any order. A file that is one
        # blob (most small files) is instead created by that blob's write: one open instead of two.
        need: dict[bytes, list[tuple[str, int, bool]]] = defaultdict(list)
        blobs = self.repo.index.blobs
        for dest, node in files:
            _unlink_if_file(dest)
            content = node.content
            single = len(content) == 1 and isinstance(content[0], str)
            if not single:
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                try:
                    os.ftruncate(fd, node.size)
                finally:
                    os.close(fd)
            off = 0
            for c in content:
                if isinstance(c, int):
                    off += c
                    continue
                bid = bytes.fromhex(c)
                loc = blobs.get(bid)
                if loc is None:
                    raise IntegrityError(f"{dest}: blob {c[:16]} is missing from the repository index",
                                         "run `dro verify`")
                need[bid].append((dest, off, single))
                off += loc.ulen
        by_pack: dict[str, list[tuple[bytes, BlobLocation]]] = defaultdict(list)
        for bid in need:
            loc = blobs[bid]
            by_pack[loc.pack_id].append((bid, loc))
        errors: list[str] = []
        with ThreadPoolExecutor(self.threads, thread_name_prefix="dro-restore") as pool:
            futs = [pool.submit(self._pack, pid, sorted(items, key=lambda x: x[1].offset), need)
                    for pid, items in by_pack.items()]
            for f in futs:
                errors.extend(f.result())
        if errors:
            raise IntegrityError("restore found damaged data: " + "; ".join(errors[:10]),
                                 "run `dro verify --read-data`; restore the damaged pack from a replica")

    def _pack(self, pack_id: str, items: list[tuple[bytes, BlobLocation]],
              need: dict[bytes, list[tuple[str, int, bool]]]) -> list[str]:
        errors: list[str] = []
        runs: list[list[tuple[bytes, BlobLocation]]] = []
        for item in items:
            if runs and item[1].offset - (runs[-1][-1][1].offset + runs[-1][-1][1].length) < _GAP:
                runs[-1].append(item)
            else:
                runs.append([item])
        for run in runs:
            start = run[0][1].offset
            end = run[-1][1].offset + run[-1][1].length
            try:
                with self.repo.backend.open_read(pack_key(pack_id), start, end - start) as f:
                    buf = memoryview(_read_exact(f, end - start))
            except ObjectNotFound:
                buf = memoryview(b"")
            for bid, loc in run:
                stored = buf[loc.offset - start: loc.offset - start + loc.length]
                try:
                    data = open_blob(self.repo.keys, stored, BLOB_DATA, bid, loc.ulen, f"pack {pack_id[:16]}")
                except IntegrityError as exc:
                    users = sorted({p for p, _o, _c in need[bid]})
                    errors.append(f"{exc.message} (affects {', '.join(users)})")
                    continue
                for path, off, create in need[bid]:
                    flags = os.O_WRONLY | os.O_NOFOLLOW | (os.O_CREAT | os.O_TRUNC if create else 0)
                    fd = os.open(path, flags, 0o600)
                    try:
                        os.pwrite(fd, data, off)
                    finally:
                        os.close(fd)
                self.progress.advance(len(data) * len(need[bid]))
        return errors

    def _meta(self, dest: str, node: Node) -> None:
        if self.root_uid:
            os.chown(dest, node.uid, node.gid, follow_symlinks=False)
        os.chmod(dest, node.mode & 0o7777)
        os.utime(dest, ns=(node.mtime_ns, node.mtime_ns), follow_symlinks=False)

    def _special(self, dest: str, node: Node, report: RestoreReport) -> None:
        _unlink_if_file(dest)
        if node.type == "symlink":
            os.symlink(node.target or "", dest)
            if self.root_uid:
                os.chown(dest, node.uid, node.gid, follow_symlinks=False)
            os.utime(dest, ns=(node.mtime_ns, node.mtime_ns), follow_symlinks=False)
            report.files += 1
            return
        try:
            if node.type == "fifo":
                os.mkfifo(dest, node.mode & 0o777)
            elif node.type in ("chardev", "blockdev"):
                kind = stat_mod.S_IFCHR if node.type == "chardev" else stat_mod.S_IFBLK
                os.mknod(dest, kind | (node.mode & 0o777), node.rdev)
            else:
                report.warnings.append(f"{dest}: sockets are not restored")
                return
            self._meta(dest, node)
            report.files += 1
        except PermissionError:
            report.warnings.append(f"{dest}: not permitted to create a {node.type}")


def _mkdir(path: str) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat_mod.S_ISDIR(os.lstat(path).st_mode):
            raise BadInput(f"{path} exists in the target and is not a directory",
                           "restore into an empty directory") from None


def _unlink_if_file(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat_mod.S_ISDIR(st.st_mode):
        raise BadInput(f"{path} is a directory in the target", "restore into an empty directory")
    os.unlink(path)


def _read_exact(f: Any, n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        parts = [data]
        got = len(data)
        while got < n:
            more = f.read(n - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        data = b"".join(parts)
    return data  # type: ignore[no-any-return]


class FileReader(io.RawIOBase):
    """One file of a snapshot as a stream, verified blob by blob (e.g. pg_restore's stdin)."""

    def __init__(self, repo: Repository, node: Node, path: str) -> None:
        super().__init__()
        self.repo = repo
        self.path = path
        self.items = list(node.content)
        self.buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf:
            if not self.items:
                return 0
            item = self.items.pop(0)
            if isinstance(item, int):
                self.buf = memoryview(bytes(min(item, 8 << 20)))
                if item > 8 << 20:
                    self.items.insert(0, item - (8 << 20))
            else:
                self.buf = memoryview(self.repo.read_blob(bytes.fromhex(item), BLOB_DATA, self.path))
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n
