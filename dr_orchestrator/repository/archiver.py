"""The backup pipeline: walk → chunk → (hash, compress, encrypt on a thread pool) → packs → uploader.

The walker runs in the calling thread and chunks files (FastCDC releases the GIL);
each chunk becomes a job on a small pool that computes its keyed id, skips it if
known, and otherwise compresses/encrypts it into the current pack. A semaphore
bounds the chunks in flight and the uploader's queue bounds finished packs, so
memory stays bounded. Trees are stored after their directory's chunks are done.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import gc
import os
import stat as stat_mod
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dr_orchestrator.errors import BadInput, IntegrityError
from dr_orchestrator.repository.chunker import data_segments, iter_chunks, make_chunker
from dr_orchestrator.repository.format import BLOB_DATA, BLOB_TREE
from dr_orchestrator.repository.packer import BlobEncoder, Packer, Uploader
from dr_orchestrator.repository.progress import NullProgress, Progress
from dr_orchestrator.repository.streams import StreamSource
from dr_orchestrator.repository.tree import Node, encode_tree, group_name, node_from_stat, same_meta, user_name

if TYPE_CHECKING:
    from dr_orchestrator.repository.repo import Repository

_SMALL = 1 << 20
_ZERO = bytes(16 << 20)
_INFLIGHT = 16
_INDEX_EVERY = 8  # packs
_WILLNEED = getattr(os, "POSIX_FADV_WILLNEED", None)
_BATCH_FILES = 32  # small files per worker job
_BATCH_BYTES = 1 << 20
_DEFER_DIRS = 64  # directory trees waiting for their files' chunk jobs


@dataclass
class Stats:
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unmodified: int = 0
    blobs_new: int = 0
    bytes_new: int = 0
    errors: list[str] = field(default_factory=list)


# A directory entry spec: an absolute path, a stream, or a nested virtual directory.
Spec = dict[str, Any]


class Archiver:
    def __init__(self, repo: Repository, *, excludes: tuple[str, ...] = (), progress: Progress | None = None,
                 threads: int = 2, lock_check: Any = None, retain_until: datetime | None = None) -> None:
        self.repo = repo
        self.keys = repo.keys
        self.index = repo.index
        self.excludes = excludes
        self.progress = progress or NullProgress()
        self.cdc = make_chunker(repo.config.chunker, repo.keys.chunker_seed)
        self.stats = Stats()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="dro-chunk")
        self.slots = threading.Semaphore(_INFLIGHT)
        self.local = threading.local()
        self.pending: set[bytes] = set()
        self.lock = threading.Lock()
        self.uploader = Uploader(repo.backend, self.index.add_pack,
                                 threads=2 if repo.backend.capabilities.atomic_put else 1,
                                 retain_until=retain_until)
        self.retain_until = retain_until
        self.data_packer = Packer(self.keys, BLOB_DATA, repo.config.pack_size, self.uploader)
        self.tree_packer = Packer(self.keys, BLOB_TREE, repo.config.pack_size, self.uploader)
        self.hardlinks: dict[tuple[int, int], list[Any]] = {}
        self.lock_check = lock_check
        self._last_check = time.monotonic()
        self.users: dict[int, str] = {}
        self.deferred: collections.deque[_PendingTree] = collections.deque()
        self.small: _SmallBatch | None = None  # small files waiting to be submitted as one job
        self.groups: dict[int, str] = {}

    # --- blob storage -------------------------------------------------------

    def _encoder(self) -> BlobEncoder:
        enc = getattr(self.local, "enc", None)
        if enc is None:
            enc = self.local.enc = BlobEncoder(self.keys)
        return enc  # type: ignore[no-any-return]

    def _store(self, blob_type: str, data: bytes | memoryview, packer: Packer) -> bytes:
        bid = self.keys.blob_id(data)
        with self.lock:
            if bid in self.pending or bid in self.index:
                return bid
            self.pending.add(bid)
        stored, ulen = self._encoder().encode(blob_type, bid, data)
        packer.add(bid, stored, ulen)
        with self.lock:
            self.stats.blobs_new += 1
            self.stats.bytes_new += ulen
        return bid

    def _chunk_job(self, data: memoryview) -> str:
        try:
            bid = self._store(BLOB_DATA, data, self.data_packer)
            self.progress.advance(len(data))
            return bid.hex()
        finally:
            self.slots.release()

    def _submit(self, data: memoryview) -> Future[str]:
        self.slots.acquire()
        try:
            return self.pool.submit(self._chunk_job, data)
        except BaseException:
            self.slots.release()
            raise

    def store_tree(self, nodes: list[Node]) -> str:
        kept = []
        for n in nodes:
            if isinstance(n.subtree, _PendingTree):
                n.subtree = self._finish_tree(n.subtree)
            if n.type == "file":
                if len(n.content) == 1 and isinstance(n.content[0], _SmallFile):
                    items, nbytes, err = n.content[0].result()
                    if err:
                        self.stats.errors.append(err)
                        continue
                    n.content, n.size = list(items), nbytes
                else:
                    n.content = _resolve(n.content)
            kept.append(n)
        return self._store(BLOB_TREE, encode_tree(kept), self.tree_packer).hex()

    def _finish_tree(self, pt: _PendingTree) -> str:
        if pt.tree_id is None:
            pt.tree_id = self.store_tree(pt.nodes)
            pt.nodes = []
        return pt.tree_id

    def _defer_tree(self, nodes: list[Node]) -> str | _PendingTree:
        """Store a directory's tree now if its files are done, else later: waiting here would
        drain the pipeline at the end of every directory (with many small files, each one a
        disk round trip on a cold cache, the workers then idle once per directory)."""
        if not any(isinstance(n.subtree, _PendingTree) or any(isinstance(c, Future | _SmallFile) for c in n.content)
                   for n in nodes):
            return self.store_tree(nodes)
        pt = _PendingTree(nodes)
        self.deferred.append(pt)
        while len(self.deferred) > _DEFER_DIRS:  # bounded: oldest first, children before parents
            self._finish_tree(self.deferred.popleft())
        return pt

    def _small_job(self, paths: list[str]) -> list[tuple[list[Any], int, str | None]]:
        """Read, chunk and store a batch of small files on a worker: with thousands of small files
        the reads (cold cache: one disk round trip each) then overlap instead of queueing, and a
        batch costs one hand-off between threads instead of one per file. All files of the batch
        are opened and their reads requested (`POSIX_FADV_WILLNEED`) before the first is read, so
        the disk sees the whole batch at once (measured: cold small-file reads ~1.5x faster)."""
        try:
            fds: list[int | str] = []
            try:
                for path in paths:
                    try:
                        fd = _open_ro(path)
                    except (FileNotFoundError, PermissionError) as exc:
                        fds.append(f"{path}: {exc.strerror}")
                        continue
                    fds.append(fd)
                    if _WILLNEED is not None:
                        with contextlib.suppress(OSError):
                            os.posix_fadvise(fd, 0, 0, _WILLNEED)
                out: list[tuple[list[Any], int, str | None]] = []
                for i, item in enumerate(fds):
                    if isinstance(item, str):
                        out.append(([], 0, item))
                        continue
                    try:
                        data = _read_all(item)
                    finally:
                        fds[i] = "closed"
                        os.close(item)
                    out.append(self._small_data(data))
                return out
            finally:
                for left in fds:
                    if isinstance(left, int):  # only after an exception
                        os.close(left)
        finally:
            self.slots.release()

    def _small_data(self, data: bytes) -> tuple[list[Any], int, str | None]:
        items: list[Any] = []
        if data:
            mv = memoryview(data)
            for c in self.cdc.cut_buf(data):
                chunk = mv[c.offset:c.offset + c.length]
                if _ZERO.startswith(chunk):  # memcmp, no 1 MiB slice per chunk
                    items.append(len(chunk))
                else:
                    items.append(self._store(BLOB_DATA, chunk, self.data_packer).hex())
        self.progress.advance(len(data))
        return _resolve(items), len(data), None

    def _flush_small(self) -> None:
        """Submit the batch of small files collected so far (walker thread only)."""
        batch, self.small = self.small, None
        if batch is None:
            return
        self.slots.acquire()
        try:
            batch.future = self.pool.submit(self._small_job, batch.paths)
        except BaseException:
            self.slots.release()
            raise

    # --- walking ------------------------------------------------------------

    def run(self, paths: list[str], streams: list[StreamSource], parent_tree: str | None) -> str:
        # Millions of short-lived objects (nodes, futures, views), few cycles: collect rarely.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
        try:
            return self._run(paths, streams, parent_tree)
        finally:
            gc.set_threshold(*thresholds)

    def _run(self, paths: list[str], streams: list[StreamSource], parent_tree: str | None) -> str:
        spec: Spec = {}
        for p in paths:
            parts = [x for x in os.path.abspath(p).split("/") if x]
            if not parts:
                raise BadInput("backing up '/' itself is not supported", "list the directories under it")
            _insert(spec, parts, ("path", os.path.abspath(p)))
        for s in streams:
            parts = [x for x in s.name.split("/") if x]
            if not parts or any(x in (".", "..") for x in parts):
                raise BadInput(f"invalid stream name {s.name!r}", "use a relative path like 'postgres/app.dump'")
            _insert(spec, parts, ("stream", s))
        try:
            root = self._virtual("/", spec, self._parent_nodes(parent_tree))
            while self.deferred:
                self._finish_tree(self.deferred.popleft())
            tree_id = self.store_tree(root)
            self.data_packer.flush()
            self.tree_packer.flush()
        except BaseException:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.uploader.abort()
            raise
        self.pool.shutdown(wait=True)
        self.uploader.close()
        return tree_id

    def _parent_nodes(self, tree_id: str | None) -> dict[str, dict[str, Any]]:
        """The parent snapshot's nodes of one directory, as raw JSON objects by name."""
        if tree_id is None:
            return {}
        try:
            return self.repo.load_tree_dicts(tree_id)
        except Exception:  # noqa: BLE001 - a damaged parent only costs re-reading
            return {}

    def _virtual(self, fspath: str, spec: Spec, parent: dict[str, dict[str, Any]]) -> list[Node]:
        nodes = []
        for name, item in sorted(spec.items()):
            full = os.path.join(fspath, name)
            if isinstance(item, dict):
                try:
                    node = node_from_stat(name, os.stat(full), self.users, self.groups)
                except OSError:
                    node = Node(name=name, type="dir", mode=0o755, mtime_ns=time.time_ns())
                node.type = "dir"
                sub = self._parent_nodes(_subtree(parent.get(name)))
                node.subtree = self.store_tree(self._virtual(full, item, sub))
                self.stats.dirs += 1
                nodes.append(node)
            elif item[0] == "path":
                n = self._entry(item[1], name, parent.get(name))
                if n is not None:
                    nodes.append(_as_node(n))
            else:
                nodes.append(self._stream(name, item[1]))
        return nodes

    def _excluded(self, path: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pat) or fnmatch.fnmatchcase(name, pat) for pat in self.excludes)

    def _entry(self, path: str, name: str, pnode: dict[str, Any] | None,
               entry: os.DirEntry[str] | None = None) -> Node | dict[str, Any] | None:
        """The node of one directory entry, or the parent's own node object `pnode` when nothing
        about the entry changed (then the caller may reuse the parent's whole tree)."""
        if self.excludes and self._excluded(path, name):
            return None
        try:
            st = entry.stat(follow_symlinks=False) if entry is not None else os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.stats.errors.append(f"{path}: {exc.strerror}")
            return None
        if pnode is not None and st.st_nlink == 1 and stat_mod.S_ISREG(st.st_mode) and \
                same_meta(pnode, st, "file", user_name(self.users, st.st_uid), group_name(self.groups, st.st_gid)) \
                and self._content_known(pnode):
            # Unchanged file (the common case of an incremental backup): no Node, no re-encoding.
            self.stats.files += 1
            self.stats.bytes += st.st_size
            self.stats.files_unmodified += 1
            self.progress.advance(st.st_size, 1)
            return pnode
        node = node_from_stat(name, st, self.users, self.groups)
        try:
            if node.type == "dir":
                self.stats.dirs += 1
                psub = _subtree(pnode)
                node.subtree = self._dir(path, self._parent_nodes(psub), psub)
                if pnode is not None and psub == node.subtree and same_meta(pnode, st, "dir", node.user, node.group):
                    return pnode
            elif node.type == "file":
                self._file(path, st, node, pnode)
            elif node.type == "symlink":
                node.target = os.readlink(path)
                if pnode is not None and pnode.get("target") == node.target and \
                        same_meta(pnode, st, "symlink", node.user, node.group):
                    return pnode
        except FileNotFoundError:
            return None
        except PermissionError as exc:
            self.stats.errors.append(f"{path}: {exc.strerror}")
            return None
        return node

    def _dir(self, path: str, parent: dict[str, dict[str, Any]], parent_id: str | None = None) -> str:
        with os.scandir(path) as it:
            entries = sorted(it, key=_name_of)
        items: list[Node | dict[str, Any]] = []
        reuse = parent_id is not None
        fast = not self.excludes
        same_files = same_bytes = 0
        for e in entries:
            pnode = parent.get(e.name)
            if fast and pnode is not None and pnode.get("type") == "file":
                # Inlined `_entry` fast path: the bulk of an incremental backup's entries.
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    st = None
                if st is not None and st.st_nlink == 1 and st.st_mtime_ns == pnode.get("mtime_ns") and \
                        stat_mod.S_ISREG(st.st_mode) and same_meta(pnode, st, "file", user_name(self.users, st.st_uid),
                                                                   group_name(self.groups, st.st_gid)) \
                        and self._content_known(pnode):
                    same_files += 1
                    same_bytes += st.st_size
                    items.append(pnode)
                    continue
            item = self._entry(e.path, e.name, pnode, e)
            if item is not None:
                items.append(item)
                if type(item) is not dict:
                    reuse = False
        if same_files:
            self.stats.files += same_files
            self.stats.files_unmodified += same_files
            self.stats.bytes += same_bytes
            self.progress.advance(same_bytes, same_files)
        self._maybe_check_lock()
        if reuse and parent_id is not None and len(items) == len(parent):
            return parent_id  # every entry is the parent's own node: reuse its tree without re-encoding
        # A _PendingTree stands in for the id until stored; store_tree swaps it for the id.
        return self._defer_tree([_as_node(x) for x in items])  # type: ignore[return-value]

    def _content_known(self, pnode: dict[str, Any]) -> bool:
        """The parent's content list is well formed and every blob it names is in the index."""
        content = pnode.get("content")
        if not isinstance(content, list):
            return False
        known = self.index.blobs
        for c in content:
            if type(c) is str:
                try:
                    if bytes.fromhex(c) not in known:
                        return False
                except ValueError:
                    return False
            elif type(c) is not int or c < 0:
                return False
        return True

    def _maybe_check_lock(self) -> None:
        if time.monotonic() - self._last_check > 5:
            self._last_check = time.monotonic()
            if self.lock_check is not None:
                self.lock_check()
            self.uploader.check()
            # Index uploaded packs as we go: an interrupted backup's data is then reused
            # (deduplicated) by the next run instead of being uploaded again.
            if self.index.pending() >= _INDEX_EVERY:
                self.index.write_new(self.repo.backend, self.keys, self.retain_until)

    def _file(self, path: str, st: os.stat_result, node: Node, pnode: dict[str, Any] | None) -> None:
        self.stats.files += 1
        self.stats.bytes += st.st_size
        if st.st_nlink > 1 and (st.st_dev, st.st_ino) in self.hardlinks:
            node.content = self.hardlinks[(st.st_dev, st.st_ino)]
            self.stats.files_unmodified += 1
            return
        if (pnode is not None and pnode.get("type") == "file" and pnode.get("size") == st.st_size
                and pnode.get("mtime_ns") == st.st_mtime_ns and pnode.get("ctime_ns") == st.st_ctime_ns
                and pnode.get("inode") == st.st_ino and self._content_known(pnode)):
            node.content = list(pnode["content"])
            self.stats.files_unmodified += 1
            self.progress.advance(st.st_size, 1)
        else:
            if pnode is None:
                self.stats.files_new += 1
            else:
                self.stats.files_changed += 1
            node.content, node.size = self._read_file(path, st.st_size)
            self.progress.advance(0, 1)
        if st.st_nlink > 1:
            self.hardlinks[(st.st_dev, st.st_ino)] = node.content

    def _read_file(self, path: str, size_hint: int = -1) -> tuple[list[Any], int]:
        if 0 <= size_hint <= _SMALL:
            batch = self.small
            if batch is None:
                batch = self.small = _SmallBatch()
            ref = _SmallFile(self, batch, len(batch.paths))
            batch.paths.append(path)
            batch.nbytes += size_hint
            if len(batch.paths) >= _BATCH_FILES or batch.nbytes >= _BATCH_BYTES:
                self._flush_small()
            return [ref], size_hint  # size fixed when the job's result is collected
        fd = _open_ro(path)
        try:
            size = os.fstat(fd).st_size
            content: list[Any] = []
            total = 0
            if size <= _SMALL:
                data = _read_all(fd)
                self._chunks(iter_chunks(self.cdc, _once(data)), content)
                return content, len(data)
            pos = 0
            for start, end in data_segments(fd, size):
                if start > pos:
                    content.append(start - pos)
                    total += start - pos
                got = self._chunks(iter_chunks(self.cdc, _pread(fd, start, end)), content)
                total += got
                pos = end
                if got < end - start:  # file shrank while we read it
                    return content, total
            if pos < size:
                content.append(size - pos)
                total += size - pos
            return content, total
        finally:
            os.close(fd)

    def _chunks(self, chunks: Any, content: list[Any]) -> int:
        total = 0
        for c in chunks:
            total += len(c)
            if _ZERO.startswith(c):  # memcmp, no slice copy
                content.append(len(c))
                self.progress.advance(len(c))
            else:
                content.append(self._submit(c))
                self._maybe_check_lock()
        return total

    def _stream(self, name: str, src: StreamSource) -> Node:
        node = Node(name=name, type="file", mode=src.mode, uid=os.getuid(), gid=os.getgid(),
                    mtime_ns=time.time_ns())
        content: list[Any] = []
        with src.open() as f:
            node.size = self._chunks(iter_chunks(self.cdc, f.read), content)
        # Wait here so a producer failure raised on close aborts before anything is committed.
        node.content = _resolve(content)
        node.ctime_ns = node.mtime_ns
        self.stats.files += 1
        self.stats.files_new += 1
        self.stats.bytes += node.size
        return node


class _PendingTree:
    """A directory whose tree is stored once its files' jobs are done (`Archiver._defer_tree`)."""

    __slots__ = ("nodes", "tree_id")

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.tree_id: str | None = None


class _SmallBatch:
    """Small files read and stored by one `_small_job`; `future` is set when it is submitted."""

    __slots__ = ("future", "nbytes", "paths")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.nbytes = 0
        self.future: Future[list[tuple[list[Any], int, str | None]]] | None = None


class _SmallFile:
    """One file of a `_SmallBatch`: `result()` is its (content, size, error), submitting the
    batch first if the walker has not yet (only the walker thread calls it)."""

    __slots__ = ("arch", "batch", "i")

    def __init__(self, arch: Archiver, batch: _SmallBatch, i: int) -> None:
        self.arch, self.batch, self.i = arch, batch, i

    def result(self) -> tuple[list[Any], int, str | None]:
        if self.batch.future is None:
            self.arch._flush_small()
        assert self.batch.future is not None
        return self.batch.future.result()[self.i]


def _name_of(e: os.DirEntry[str]) -> str:
    return e.name


def _subtree(pnode: dict[str, Any] | None) -> str | None:
    if pnode is None or pnode.get("type") != "dir":
        return None
    sub = pnode.get("subtree")
    return sub if isinstance(sub, str) else None


def _as_node(item: Node | dict[str, Any]) -> Node:
    """A parent's reused node object as a `Node` (when its directory changed and is re-encoded)."""
    if isinstance(item, Node):
        return item
    try:
        return Node.from_json(item)
    except (KeyError, ValueError, TypeError) as exc:
        raise IntegrityError("the parent snapshot holds a malformed node", "run `dro verify`") from exc


def _open_ro(path: str) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW
    try:
        return os.open(path, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:  # O_NOATIME needs ownership: read others' files without it
        return os.open(path, flags)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    data = os.read(fd, size + 1)
    while len(data) > size and len(data) < (1 << 30):  # grew while we read it
        more = os.read(fd, 1 << 20)
        if not more:
            break
        data += more
    return data


def _resolve(content: list[Any]) -> list[Any]:
    out: list[Any] = []
    for c in content:
        v = c.result() if isinstance(c, Future) else c
        if isinstance(v, int) and out and isinstance(out[-1], int):
            out[-1] += v
        elif not (isinstance(v, int) and v == 0):
            out.append(v)
    return out


def _insert(spec: Spec, parts: list[str], leaf: Any) -> None:
    d = spec
    for p in parts[:-1]:
        nxt = d.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise BadInput(f"{'/'.join(parts)} is inside another backed-up path", "list each tree once")
        d = nxt
    if parts[-1] in d:
        raise BadInput(f"{'/'.join(parts)} is given twice or overlaps another path", "list each tree once")
    d[parts[-1]] = leaf


def _once(data: bytes) -> Any:
    state = [data]

    def read(n: int) -> bytes:
        if state:
            return state.pop()
        return b""
    return read


def _pread(fd: int, start: int, end: int) -> Any:
    pos = [start]
    willneed = _WILLNEED

    def read(n: int) -> bytes:
        n = min(n, end - pos[0])
        if n <= 0:
            return b""
        data = os.pread(fd, n, pos[0])
        pos[0] += len(data)
        if willneed is not None and pos[0] < end:
            # Start reading the next block now: the disk works while this one is chunked/hashed.
            with contextlib.suppress(OSError):
                os.posix_fadvise(fd, pos[0], min(n, end - pos[0]), willneed)
        return data
    return read
