"""Streamed listings of a repository location, keyed for fast diffs.

A listing becomes a dict key → ObjectInfo; set operations on 100,000+ keys take
milliseconds, so the diff is bounded by how fast the provider lists. On object
stores the data/ prefix is listed as 16 parallel sub-listings (data/0… data/f).

Local directories are read as per-directory blocks (listcache.py), optionally through
the listing cache. When both ends are local, `list_local_pair` compares the two sides
directory by directory and leaves out of both listings what is identical (same names,
same sizes) in data/ and index/: those objects need nothing, and building an ObjectInfo
for each of them was most of a no-change run's time. `InSync` says what was left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from dr_orchestrator.errors import ObjectNotFound
from dr_orchestrator.replication import layout
from dr_orchestrator.replication.layout import Kind
from dr_orchestrator.replication.listcache import Block, DirCache, blocks_under, keys_of
from dr_orchestrator.replication.localfast import infos, infos_of, list_local, local_root
from dr_orchestrator.storage.base import Backend, ObjectInfo

Listing = dict[str, ObjectInfo]


def list_kind(backend: Backend, kind: Kind, *, parallel: int = 8, cache: DirCache | None = None) -> Listing:
    if kind is Kind.CONFIG:
        try:
            info = backend.stat(layout.CONFIG_KEY)
        except ObjectNotFound:
            return {}
        return {info.key: info}
    prefix = layout.PREFIX[kind]
    if kind is Kind.DATA and parallel > 1 and not backend.url.startswith("file:"):
        prefixes = [f"{prefix}{c}" for c in "0123456789abcdef"]
        from concurrent.futures import ThreadPoolExecutor  # object stores only

        with ThreadPoolExecutor(min(parallel, 16), thread_name_prefix="dro-list") as pool:
            parts = list(pool.map(lambda p: _collect(backend, p, kind), prefixes))
        out: Listing = {}
        for part in parts:
            out.update(part)
        return out
    return _collect(backend, prefix, kind, cache)


def _collect(backend: Backend, prefix: str, kind: Kind, cache: DirCache | None = None) -> Listing:
    root = local_root(backend)
    if root is not None:  # only ever yields keys under the prefix's directory
        return {i.key: i for i in list_local(root, prefix, cache=cache)}
    return {i.key: i for i in backend.list(prefix) if i.key.startswith(prefix)}


def is_local(backend: Backend) -> bool:
    return local_root(backend) is not None


def list_repository(backend: Backend, kinds: Iterable[Kind] = layout.LIST_ORDER, *,
                    parallel: int = 8, cache: DirCache | None = None) -> Listing:
    """List `kinds` one after the other, in the given order (see layout.LIST_ORDER)."""
    out: Listing = {}
    for kind in kinds:
        out.update(list_kind(backend, kind, parallel=parallel, cache=cache))
    return out


def refresh_local(backend: Backend, cache: DirCache, kinds: Iterable[Kind] = layout.LIST_ORDER) -> None:
    """Read a local repository's directories into `cache` (unchanged ones cost one stat)."""
    root = local_root(backend)
    assert root is not None
    for kind in kinds:
        if kind is not Kind.CONFIG:
            blocks_under(str(root), layout.PREFIX[kind], cache)


# Kinds whose identical directories are left out of a local pair's listings. Snapshots
# and keys always stay in: retention and the config check look at them as a whole.
PAIRED = (Kind.INDEX, Kind.DATA)


class InSync:
    """Objects present at both ends with the same size, left out of both listings."""

    def __init__(self) -> None:
        self.count = 0
        self.nbytes = 0
        self._parts: list[tuple[str, Iterable[str]]] = []
        self._blocks: list[Block] = []

    def __repr__(self) -> str:
        return f"InSync(count={self.count}, nbytes={self.nbytes})"

    def add(self, rel: str, names: Iterable[str], count: int, nbytes: int) -> None:
        self._parts.append((rel, names))
        self.count += count
        self.nbytes += nbytes

    def add_block(self, block: Block) -> None:
        self._blocks.append(block)
        self.count += block.count
        self.nbytes += block.nbytes

    def keys(self) -> set[str]:
        out = {f"{rel}/{n}" for rel, names in self._parts for n in names}
        out.update(keys_of(self._blocks))
        return out


def list_local_pair(source: Backend, target: Backend, src_cache: DirCache | None, tgt_cache: DirCache | None,
                    kinds: Iterable[Kind] = layout.LIST_ORDER) -> tuple[Listing, Listing, InSync]:
    """Both ends local: (source listing, target listing, what is in sync and left out).

    The source is listed in full first, kind by kind in `kinds` order (snapshots first,
    see layout.LIST_ORDER), then the target."""
    src_root, tgt_root = local_root(source), local_root(target)
    assert src_root is not None and tgt_root is not None
    kinds = tuple(kinds)
    blocks: list[dict[Kind, list[Block]]] = []
    configs: list[Listing] = []
    for root, backend, cache in ((src_root, source, src_cache), (tgt_root, target, tgt_cache)):
        per_kind: dict[Kind, list[Block]] = {}
        for kind in kinds:
            if kind is Kind.CONFIG:
                configs.append(list_kind(backend, kind))
            else:
                per_kind[kind] = blocks_under(str(root), layout.PREFIX[kind], cache)
        blocks.append(per_kind)
    src_blocks, tgt_blocks = blocks
    src: Listing = {}
    tgt: Listing = {}
    same = InSync()
    for kind in kinds:
        if kind is Kind.CONFIG:
            for listing, config in zip((src, tgt), configs, strict=False):
                listing.update(config)
            continue
        if kind not in PAIRED:
            for b in src_blocks[kind]:
                src.update((i.key, i) for i in infos(b))
            for b in tgt_blocks[kind]:
                tgt.update((i.key, i) for i in infos(b))
            continue
        theirs = {b.rel: b for b in tgt_blocks[kind]}
        for b in src_blocks[kind]:
            t = theirs.pop(b.rel, None)
            if t is None:
                src.update((i.key, i) for i in infos(b))
            elif t.same_files(b):
                same.add_block(b)
            elif b.base is not None and b.added is not None and t.same_files(b.base):
                # The target still holds what the source held when last listed, and the
                # source only gained files since: those are what the target lacks.
                same.add_block(b.base)
                src.update((i.key, i) for i in infos_of(b.rel + "/", b.added))
            else:
                # Per entry: a (name, size) pair found at both ends is in sync.
                both = set(zip(b.names, b.sizes, strict=True)) & set(zip(t.names, t.sizes, strict=True))
                names = [n for n, _ in both]
                same.add(b.rel, names, len(both), sum(size for _, size in both))
                src.update((i.key, i) for i in infos(b, [n for n, z in zip(b.names, b.sizes, strict=True)
                                                          if (n, z) not in both]))
                tgt.update((i.key, i) for i in infos(t, [n for n, z in zip(t.names, t.sizes, strict=True)
                                                          if (n, z) not in both]))
        for t in theirs.values():
            tgt.update((i.key, i) for i in infos(t))
    return src, tgt, same


def by_kind(listing: Listing, kind: Kind) -> Listing:
    if kind is Kind.CONFIG:
        return {k: v for k, v in listing.items() if k == layout.CONFIG_KEY}
    prefix = layout.PREFIX[kind]
    return {k: v for k, v in listing.items() if k.startswith(prefix)}


def checksums_conflict(a: ObjectInfo, b: ObjectInfo) -> bool:
    """True when both providers report the same algorithm with different values."""
    return any(a.checksums[alg] != b.checksums[alg] for alg in set(a.checksums) & set(b.checksums))
