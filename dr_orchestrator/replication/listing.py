"""Streamed listings of a repository location, keyed for fast diffs.

A listing becomes a dict key → ObjectInfo; set operations on 100,000+ keys take
milliseconds, so the diff is bounded by how fast the provider lists. On object
stores the data/ prefix is listed as 16 parallel sub-listings (data/0… data/f).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from dr_orchestrator.errors import ObjectNotFound
from dr_orchestrator.replication import layout
from dr_orchestrator.replication.layout import Kind
from dr_orchestrator.replication.localfast import list_local, local_root
from dr_orchestrator.storage.base import Backend, ObjectInfo

Listing = dict[str, ObjectInfo]


def list_kind(backend: Backend, kind: Kind, *, parallel: int = 8) -> Listing:
    if kind is Kind.CONFIG:
        try:
            info = backend.stat(layout.CONFIG_KEY)
        except ObjectNotFound:
            return {}
        return {info.key: info}
    prefix = layout.PREFIX[kind]
    if kind is Kind.DATA and parallel > 1 and not backend.url.startswith("file:"):
        prefixes = [f"{prefix}{c}" for c in "0123456789abcdef"]
        with ThreadPoolExecutor(min(parallel, 16), thread_name_prefix="dro-list") as pool:
            parts = list(pool.map(lambda p: _collect(backend, p, kind), prefixes))
        out: Listing = {}
        for part in parts:
            out.update(part)
        return out
    return _collect(backend, prefix, kind)


def _collect(backend: Backend, prefix: str, kind: Kind) -> Listing:
    root = local_root(backend)
    if root is not None:  # only ever yields keys under the prefix's directory
        return {i.key: i for i in list_local(root, prefix)}
    return {i.key: i for i in backend.list(prefix) if i.key.startswith(prefix)}


def is_local(backend: Backend) -> bool:
    return local_root(backend) is not None


def list_repository(backend: Backend, kinds: Iterable[Kind] = layout.LIST_ORDER, *,
                    parallel: int = 8) -> Listing:
    """List `kinds` one after the other, in the given order (see layout.LIST_ORDER)."""
    out: Listing = {}
    for kind in kinds:
        out.update(list_kind(backend, kind, parallel=parallel))
    return out


def by_kind(listing: Listing, kind: Kind) -> Listing:
    if kind is Kind.CONFIG:
        return {k: v for k, v in listing.items() if k == layout.CONFIG_KEY}
    prefix = layout.PREFIX[kind]
    return {k: v for k, v in listing.items() if k.startswith(prefix)}


def checksums_conflict(a: ObjectInfo, b: ObjectInfo) -> bool:
    """True when both providers report the same algorithm with different values."""
    return any(a.checksums[alg] != b.checksums[alg] for alg in set(a.checksums) & set(b.checksums))
