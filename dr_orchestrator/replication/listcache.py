"""Listing local repository directories fast: per-directory blocks and a listing cache.

A local listing is one `stat` per object (~4 µs each here: 22,000 objects ≈ 0.1 s per
side). Repository objects are immutable and written temp + rename, so a directory's
entries only change when its own mtime/ctime change. The cache keeps, per absolute
directory, what the last listing saw there: the directory's stamp (mtime_ns, ctime_ns,
inode), when it was read, and its regular files (name, size).

Reading a directory D (`read_dir`):
- D's stamp equals the cached one and is not *racy* → the cached entries, no syscall
  beyond that one stat. Racy (as in git): D changed so shortly before it was read that
  a later change could carry the same stamp; such a directory is always read again.
  Linux stamps the inodes of a local file system from its coarse real-time clock
  (updated once per tick), and `taken` is read from that same clock before the names
  are read: every later change gets a stamp >= `taken` (a change holds the directory's
  lock, so one made after the stamp was read and before the names were is among them),
  so a stamp older than `taken` by more than the file system's granularity cannot hide
  one. ext4, xfs, btrfs and tmpfs keep the clock's nanoseconds (EXACT_FS): there only a
  stamp >= `taken` is racy (multigrain stamps can be ahead of the coarse clock, never
  behind: racy, the safe side). Other local file systems with sub-second stamps
  (exFAT: 10 ms) get RACY_FINE_NS. Where the stamps come from another clock (NFS, SMB,
  FUSE, VM shares: any file system not known to be local) or are whole seconds (ext4
  with 128-byte inodes), the margin is RACY_NS.
- otherwise the names are read again (getdents, cheap). In content-addressed
  directories (data/, index/, snapshots/) a name the cache knows keeps its size — the
  name is the hash of the bytes, so the size cannot differ unless the file is damaged;
  every new name is stat'ed, but for one this process has just written and checked
  against its name into a directory no listing knows yet (DirCache.expect: the writer
  knows its size). Whether a name is there always comes from reading the directory.
  Elsewhere (keys/) every file is stat'ed.

Why a replica is never judged complete when it is not:
- the cache only answers "which files are in D and their sizes" for a D whose stamp has
  not changed; any create, rename, delete in D changes D's mtime and ctime (ctime cannot
  be set back by `touch`/`cp -a`, mtime can, so both must match);
- a cache file is written only after a successful run, and only after a syncfs of its
  file system when it names a file no earlier cache named: everything it lists is
  durable (another process — say a second dro writing replicas there — may have files
  not yet synced). dro's own replica writes are not durable until the end of their
  phase (one syncfs per phase, localfast.py), so the target's cache file is deleted
  before dro first writes there and rewritten at the end: a crash or a failed run
  leaves no cache, and the next run lists in full. After a power cut a directory is
  either as it was when cached (stamp as cached: entries right) or changed (re-read);
- what a cached size cannot see is an object damaged *in place* (truncated, overwritten)
  or replaced by a file of another size under its content-addressed name: damage at
  rest, which the default run does not catch for same-size damage either. Files this
  process re-sends are forgotten and read again. `--deep` and `dro repair` never read
  the cache, a cache whose last full listing is older than DRO_LISTING_CACHE_MAX_AGE
  (default 24 h) is ignored, and DRO_LISTING_CACHE=0 (or DRO_NO_CACHE=1) turns it off.
Any error reading the cache (missing, truncated, damaged: the file carries a BLAKE3 of
all of it; another root, device, owner or version) means: list in full. Network file systems report the server's
stamps; if in doubt there, turn the cache off.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import itertools
import json
import os
import stat
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import blake3

from dr_orchestrator.storage.base import TEMP_PREFIX

ENV = "DRO_LISTING_CACHE"  # 0/off/false/no: list every object with a stat, always
ENV_MAX_AGE = "DRO_LISTING_CACHE_MAX_AGE"  # seconds since the last full listing; default 24 h
DEFAULT_MAX_AGE = 24 * 3600
RACY_NS = 2_000_000_000  # whole-second stamps (vfat: 2 s), another machine's clock, or no coarse clock
RACY_FINE_NS = 20_000_000  # other sub-second stamps of a local file system (exFAT: 10 ms)
# File systems whose inode stamps come from this kernel's clock …
LOCAL_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "f2fs", "zfs", "bcachefs",
                      "exfat", "vfat", "jfs", "reiserfs", "nilfs2", "overlay"})
# … and those of them that keep its nanoseconds (s_time_gran 1; ext4's small inodes hold
# whole seconds, which racy() tells by the stamp). A btrfs subvolume's st_dev is not the
# one mountinfo names: fs_type() does not know it, and it gets the wide margin.
EXACT_FS = frozenset({"ext4", "xfs", "btrfs", "tmpfs"})
# The clock Linux stamps inodes with (CLOCK_REALTIME_COARSE is 5 there; Python names it not).
_FS_CLOCK = 5 if sys.platform.startswith("linux") else None
VERSION = 4
TMP_PREFIX = TEMP_PREFIX  # temp files of writers in progress: never listed
# Top directories whose file names are the BLAKE3 of their bytes (layout.CONTENT_ADDRESSED).
CONTENT_ADDRESSED = frozenset({"data", "index", "snapshots"})


def enabled() -> bool:
    if os.environ.get("DRO_NO_CACHE") == "1":
        return False
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def max_age_ns() -> int:
    try:
        return int(float(os.environ.get(ENV_MAX_AGE, DEFAULT_MAX_AGE)) * 1e9)
    except ValueError:
        return DEFAULT_MAX_AGE * 1_000_000_000


def fs_clock_ns() -> int:
    """Now, on the clock file systems stamp inodes with (time.time_ns() where unknown)."""
    global _FS_CLOCK
    if _FS_CLOCK is not None:
        try:
            return time.clock_gettime_ns(_FS_CLOCK)
        except OSError:  # an old kernel: the fine clock and the wide margin
            _FS_CLOCK = None
    return time.time_ns()


@functools.cache
def fs_type(dev: int) -> str | None:
    """The type of the file system on device `dev` per /proc/self/mountinfo ("ext4"),
    None when that cannot be told."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                major, _, minor = fields[2].partition(":")
                if os.makedev(int(major), int(minor)) == dev:
                    return fields[fields.index("-") + 1]
    except (OSError, ValueError, IndexError):
        pass
    return None


def racy_margin(dev: int, mtime_ns: int, ctime_ns: int) -> int:
    """How long before `taken` a change to a directory on `dev` with these stamps may
    have been and still be hidden by a later one (module docstring)."""
    if _FS_CLOCK is None or not (mtime_ns % 1_000_000_000 or ctime_ns % 1_000_000_000):
        return RACY_NS
    kind = fs_type(dev)
    return 0 if kind in EXACT_FS else RACY_FINE_NS if kind in LOCAL_FS else RACY_NS


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dro" / "listings"


def device_of(path: str) -> int:
    return os.stat(path).st_dev


class Block:
    """The regular files of one directory (sorted by name) and its subdirectories.

    A block from the cache file keeps its columns as the bytes stored there and decodes
    them only when asked: a directory that is the same at both ends is compared as bytes,
    an unchanged one is written back as it was read, and most are never decoded at all.

    A directory read again that only gained files is kept as its earlier block (`base`)
    plus the new files (`added`, sorted): the pair diff compares the base with the other
    end and looks at the added files alone; saving the cache merges them into the base's
    columns as strings (text()), and the lists are built only if something asks for them."""

    __slots__ = ("_names", "_raw", "_sizes", "_text", "added", "base", "count", "fresh", "nbytes", "read", "rel",
                 "stamp", "subdirs", "taken")

    def __init__(self, rel: str, stamp: tuple[int, int, int], taken: int, subdirs: list[str], *,
                 fresh: bool, read: bool, names: list[str] | None = None, sizes: list[int] | None = None,
                 text: tuple[str, str] | None = None, count: int = 0, nbytes: int = 0,
                 base: Block | None = None, added: list[tuple[str, int]] | None = None,
                 raw: tuple[memoryview, memoryview] | None = None) -> None:
        self.rel = rel  # relative to the root, '/'-separated, no trailing '/'
        self.stamp = stamp  # (mtime_ns, ctime_ns, inode) of the directory before it was read
        self.taken = taken  # fs_clock_ns() before it was read
        self.subdirs = subdirs
        self.fresh = fresh  # holds a name not known before (stat'ed now, or written now: expect())
        self.read = read  # the directory was read now (not answered from the cache)
        self._names, self._sizes, self._text = names, sizes, text
        self._raw = raw  # (names, sizes) as encoded in the cache file (see text())
        self.base, self.added = base, added
        if names is not None and sizes is not None:
            self.count, self.nbytes = len(names), sum(sizes)
        elif base is not None and added is not None:
            self.count, self.nbytes = base.count + len(added), base.nbytes + sum(z for _, z in added)
        else:
            self.count, self.nbytes = count, nbytes

    def racy(self, dev: int) -> bool:
        """Changed too shortly before it was read to trust the stamp (module docstring);
        `dev`: the device the directory is on."""
        m, c = self.stamp[0], self.stamp[1]
        return max(m, c) >= self.taken - racy_margin(dev, m, c)

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._names = self.text()[0].split("/") if self.count else []
        return self._names

    @property
    def sizes(self) -> list[int]:
        if self._sizes is None:
            self._sizes = [int(x) for x in self.text()[1].split(",")] if self.count else []
        return self._sizes

    def restamped(self, stamp: tuple[int, int, int], taken: int) -> Block:
        """The same files, read again under a new stamp (whatever form they are held in)."""
        return Block(self.rel, stamp, taken, self.subdirs, fresh=self.fresh, read=True, names=self._names,
                     sizes=self._sizes, text=self._text, raw=self._raw, base=self.base, added=self.added,
                     count=self.count, nbytes=self.nbytes)

    def text(self) -> tuple[str, str]:
        """(names joined by '/', sizes joined by ',')."""
        if self._text is None:
            if self._raw is not None:
                raw_names, raw_sizes = self._raw
                self._text = (str(raw_names, "utf-8", "surrogateescape"), str(raw_sizes, "ascii"))
            elif self._names is None and self.base is not None and self.added is not None:
                # The few added files go into the base's sorted columns as strings: its
                # sizes need not become ints and back.
                names, sizes = self.base.text()
                ns, zs = (names.split("/"), sizes.split(",")) if self.base.count else ([], [])
                for name, size in self.added:
                    i = bisect.bisect_left(ns, name)
                    ns.insert(i, name)
                    zs.insert(i, str(size))
                self._text = ("/".join(ns), ",".join(zs))
            else:
                self._text = ("/".join(self.names), ",".join(map(str, self.sizes)))
        return self._text

    def same_files(self, other: Block) -> bool:
        """The same names with the same sizes."""
        if self.count != other.count or self.nbytes != other.nbytes:
            return False
        if self._raw is not None and other._raw is not None:
            # As bytes: memoryview == compares byte by byte through the struct machinery
            # (~10 µs for a directory of 64 names; copying both out and memcmp: ~0.6 µs).
            return all(a.tobytes() == b.tobytes() for a, b in zip(self._raw, other._raw, strict=True))
        return self.text() == other.text()

    def without(self, names: set[str]) -> Block:
        """This block minus `names` (files this process replaced: their sizes must be read)."""
        keep = [(n, z) for n, z in zip(self.names, self.sizes, strict=True) if n not in names]
        return Block(self.rel, self.stamp, self.taken, self.subdirs, fresh=self.fresh, read=self.read,
                     names=[n for n, _ in keep], sizes=[z for _, z in keep])


def _stat_names(fd: int, names: Iterable[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """(regular files as (name, size), sorted; subdirectories) among `names` in the
    directory `fd`. Writers' temp files and names that vanish meanwhile are left out."""
    files: list[tuple[str, int]] = []
    subdirs: list[str] = []
    for name in names:
        if name.startswith(TMP_PREFIX):
            continue
        try:
            s = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # vanished while we looked: not listed
        if stat.S_ISREG(s.st_mode):
            files.append((name, s.st_size))
        elif stat.S_ISDIR(s.st_mode):
            subdirs.append(name)
    files.sort()
    return files, subdirs


def read_dir(path: str, rel: str, old: Block | None, *, reuse: bool = True) -> Block | None:
    """One directory as a Block (None if it is gone); `old`: what the cache knows of it;
    `reuse`: names are content addresses (a known name keeps its cached size)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if old is not None and old.stamp == stamp and not old.racy(st.st_dev):
        return old
    taken = fs_clock_ns()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        names = os.listdir(fd)
        if old is None or not reuse:
            files, subdirs = _stat_names(fd, names)
            return Block(rel, stamp, taken, sorted(subdirs), fresh=bool(files), read=True,
                         names=[n for n, _ in files], sizes=[z for _, z in files])
        now = set(names)
        known = set(old.names)
        if not old.subdirs and len(names) == old.count and now == known:
            # The common case for a directory read again: the same names (no
            # subdirectory, no temp file): the cached sizes hold.
            return old.restamped(stamp, taken)
        gone = known - now
        kept_dirs = [d for d in old.subdirs if d in now]
        added, new_dirs = _stat_names(fd, now - known - set(kept_dirs))
    finally:
        os.close(fd)
    fresh = old.fresh or bool(added)
    if not gone and not old.subdirs and not new_dirs:  # files only, none gone: the old block plus these
        return Block(rel, stamp, taken, [], fresh=fresh, read=True, base=old, added=added)
    files = [(n, z) for n, z in zip(old.names, old.sizes, strict=True) if n not in gone] + added
    files.sort()
    return Block(rel, stamp, taken, sorted(kept_dirs + new_dirs), fresh=fresh, read=True,
                 names=[n for n, _ in files], sizes=[z for _, z in files])


class DirCache:
    """The listing cache of one local root: one file under cache_dir().

    The file is four parts, one line each but the last: the BLAKE3 of everything after
    that line; a JSON object (version, root, device, when the last full listing was); a
    JSON list with each directory's stamp, counts and where its columns are; then the
    columns of every directory as one block of bytes. Loading it decodes the JSON lines
    only; a directory's names are decoded when something asks for them, and an unchanged
    directory is written back as the bytes that were read (for 20,000 names a JSON
    document took ~15 ms to load and ~20 ms to write here; this ~5 ms and ~10 ms)."""

    def __init__(self, root: str | os.PathLike[str], *, use_entries: bool = True) -> None:
        self.root = str(root)
        self.path = cache_dir() / f"{blake3.blake3(self.root.encode()).hexdigest()[:32]}.listing"
        self.use_entries = use_entries  # False: read everything (entries are still recorded)
        self._old: dict[str, Block] | None = None
        self.blocks: dict[str, Block] = {}  # what this run saw, by rel
        self.full_at = 0  # when every entry was last stat'ed (carried across refreshes)
        self.invalidated = False
        self._edits = 0  # record()s and forget()s so far: an encoding is good until the next one
        self._encoded: tuple[int, bytes] | None = None
        self._expected: dict[str, dict[str, int]] = {}  # expect(): by rel, name → size

    # --- reading ------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """A cache file was read (so the last run here ended well: see invalidate())."""
        self.old("")
        return bool(self._old)

    def old(self, rel: str) -> Block | None:
        if self._old is None:
            self._old = self._load() if self.use_entries else {}
            if not self._old:
                self.full_at = time.time_ns()
        newer = self.blocks.get(rel)
        if newer is not None:
            return newer
        known = self._old.get(rel)
        if known is None and rel in self._expected:
            # Never listed, but written by this process: a block no stamp matches, holding
            # what was written, so that reading the directory stats only other names.
            files = sorted(self._expected[rel].items())
            return Block(rel, (-1, -1, -1), 0, [], fresh=True, read=False, names=[n for n, _ in files],
                         sizes=[z for _, z in files])
        return known

    def _load(self) -> dict[str, Block]:
        try:
            with open(self.path, "rb") as f:
                if os.fstat(f.fileno()).st_uid != os.geteuid():
                    return {}
                data = f.read()
            digest_end = data.index(b"\n")
            if blake3.blake3(memoryview(data)[digest_end + 1:]).hexdigest().encode() != data[:digest_end]:
                return {}  # truncated or damaged
            meta_end = data.index(b"\n", digest_end + 1)
            dirs_end = data.index(b"\n", meta_end + 1)
            doc = json.loads(data[digest_end + 1:meta_end])
            if doc.get("v") != VERSION or doc.get("root") != self.root \
                    or doc.get("dev") != os.stat(self.root).st_dev:
                return {}
            full = int(doc["full"])
            if not 0 <= time.time_ns() - full <= max_age_ns():
                return {}
            base, payload = dirs_end + 1, memoryview(data)[dirs_end + 1:]
            out: dict[str, Block] = {}
            table = json.loads(data[meta_end + 1:dirs_end])
            for rel, m, c, ino, taken, count, nbytes, subdirs, at, nlen, slen in table:
                if not (isinstance(rel, str) and isinstance(subdirs, str) and min(at, nlen, slen) >= 0
                        and at + nlen + slen <= len(payload)):
                    return {}
                seps = max(int(count) - 1, 0)  # the columns agree with the count (cheap: a memchr scan)
                if data.count(b"/", base + at, base + at + nlen) != seps \
                        or data.count(b",", base + at + nlen, base + at + nlen + slen) != seps:
                    return {}
                out[rel] = Block(rel, (int(m), int(c), int(ino)), int(taken),
                                 subdirs.split("/") if subdirs else [], fresh=False, read=False,
                                 raw=(payload[at:at + nlen], payload[at + nlen:at + nlen + slen]),
                                 count=int(count), nbytes=int(nbytes))
            self.full_at = full
            return out
        except Exception:  # noqa: BLE001 - any problem with the cache means: list in full
            return {}

    def record(self, block: Block) -> None:
        self.blocks[block.rel] = block
        self._edits += 1

    def expect(self, written: Iterable[tuple[str, int]]) -> None:
        """Objects (key, size) this process has just put in place under content-addressed
        names: their sizes need no stat where no listing of their directory is known (a
        first replication into an empty target: ~20,000 stats). The name is the hash of
        the bytes, which the writer checked, so the size is as sure as a cached one; a name
        that is not there when the directory is read is simply not listed."""
        if not self.use_entries:
            return
        for key, size in written:
            rel, _, name = key.rpartition("/")
            if rel.split("/", 1)[0] in CONTENT_ADDRESSED:
                self._expected.setdefault(rel, {})[name] = size

    def forget(self, keys: Iterable[str]) -> None:
        """Keys this process (re)wrote: their sizes must be read again, not reused."""
        by_dir: dict[str, set[str]] = {}
        for key in keys:
            rel, _, name = key.rpartition("/")
            by_dir.setdefault(rel, set()).add(name)
        for rel, names in by_dir.items():
            block = self.old(rel)
            if block is not None and not names.isdisjoint(block.names):
                self.blocks[rel] = block.without(names)
                self._edits += 1

    # --- state after a run ----------------------------------------------------------------

    @property
    def changed(self) -> bool:
        """Something differs from the cache file: a directory was read, or the file is gone."""
        return self.invalidated or any(b.read for b in self.blocks.values())

    @property
    def fresh(self) -> bool:
        return any(b.fresh for b in self.blocks.values())

    def invalidate(self) -> None:
        """Before this process writes under the root: until a successful run rewrites it,
        no cache (a crash or a failed run must not leave entries that may not be durable)."""
        if not self.invalidated:
            self.invalidated = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def encode(self) -> bytes:
        """The cache file's bytes for what this run saw (the CPU part of save(), which
        reuses them unless something was recorded since)."""
        if self._encoded is not None and self._encoded[0] == self._edits:
            return self._encoded[1]
        columns: list[memoryview | bytes] = []
        dirs: list[list[Any]] = []
        at = 0
        for rel, b in self.blocks.items():
            names: memoryview | bytes
            sizes: memoryview | bytes
            if b._raw is not None:  # unchanged since read from the file: its bytes as they were
                names, sizes = b._raw
            else:
                text_names, text_sizes = b.text()
                if text_names.count("/") != max(b.count - 1, 0):
                    continue  # a '/' in a name: not on POSIX; never cache it
                names, sizes = text_names.encode("utf-8", "surrogateescape"), text_sizes.encode("ascii")
            dirs.append([rel, b.stamp[0], b.stamp[1], b.stamp[2], b.taken, b.count, b.nbytes,
                         "/".join(b.subdirs), at, len(names), len(sizes)])
            columns += (names, sizes)
            at += len(names) + len(sizes)
        meta = {"v": VERSION, "root": self.root, "dev": os.stat(self.root).st_dev,
                "full": self.full_at or time.time_ns()}
        rest = b"".join([json.dumps(meta).encode(), b"\n", json.dumps(dirs, separators=(",", ":")).encode(), b"\n",
                         *columns])
        data = blake3.blake3(rest).hexdigest().encode() + b"\n" + rest
        self._encoded = (self._edits, data)
        return data

    def save(self) -> None:
        """Write what this run saw (call only after a successful run, everything durable)."""
        data = self.encode()
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # a cache that cannot be written is only a slower next run
            return
        _forget_old(self.path.parent)


def _forget_old(directory: Path) -> None:
    """Cache files no run has written for longer than the maximum age are never used again."""
    limit = time.time_ns() - max(max_age_ns(), DEFAULT_MAX_AGE * 1_000_000_000)
    with contextlib.suppress(OSError), os.scandir(directory) as it:
        for e in it:
            with contextlib.suppress(OSError):
                if e.name.endswith((".listing", ".json", ".tmp")) and e.stat().st_mtime_ns < limit:
                    os.unlink(e.path)


def blocks_under(root: str, prefix: str, cache: DirCache | None, workers: int = 8) -> list[Block]:
    """Blocks of the directory `prefix` names ("data/") and everything below it.

    A warm tree is read fastest by one thread (Python per entry; threads only fight over
    the GIL). A cold one is bound by inode reads, where parallel stat()s pay: the walk
    starts on this thread and hands the remaining subdirectories to `workers` threads as
    soon as the kernel reports that it had to read from the disk."""
    top_rel = prefix.strip("/")
    # With cache entries, a directory costs a stat or a getdents, not a stat per file.
    cold = cache is None or cache.old(top_rel) is None
    reads = _block_reads()
    top = _read(root, top_rel, cache)
    if top is None:
        return []
    out = [top]
    subs = [f"{top_rel}/{d}" for d in top.subdirs]
    while subs:
        out += _subtree(root, subs.pop(0), cache)
        if subs and workers > 1 and cold and _block_reads() > reads:
            from concurrent.futures import ThreadPoolExecutor  # cold trees only

            with ThreadPoolExecutor(workers, thread_name_prefix="dro-scan") as pool:
                for part in pool.map(lambda rel: _subtree(root, rel, cache), subs):
                    out += part
            break
    return out


def _read(root: str, rel: str, cache: DirCache | None) -> Block | None:
    block = read_dir(f"{root}/{rel}", rel, cache.old(rel) if cache is not None else None,
                     reuse=rel.split("/", 1)[0] in CONTENT_ADDRESSED)
    if block is not None and cache is not None:
        cache.record(block)
    return block


def _subtree(root: str, rel: str, cache: DirCache | None) -> list[Block]:
    out: list[Block] = []
    stack = [rel]
    while stack:
        block = _read(root, stack.pop(), cache)
        if block is not None:
            out.append(block)
            stack.extend(f"{block.rel}/{d}" for d in reversed(block.subdirs))
    return out


def _block_reads() -> int:
    try:
        import resource  # cold walks only

        return int(resource.getrusage(resource.RUSAGE_THREAD).ru_inblock)
    except (AttributeError, OSError):  # no per-thread usage here: count up, so the walk goes parallel
        return next(_ticks)


_ticks = itertools.count()


def keys_of(blocks: Iterable[Block]) -> Iterable[str]:
    for b in blocks:
        pre = b.rel + "/"
        for n in b.names:
            yield pre + n
