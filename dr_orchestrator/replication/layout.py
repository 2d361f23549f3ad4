"""What replication knows about a repository's object layout (docs/TEAM-BRIEF.md).

`config`, `keys/<id>`, `data/<2 hex>/<id>`, `index/<id>`, `snapshots/<id>`, `locks/<id>`.
Objects under data/, index/ and snapshots/ are named by the hex BLAKE3-256 of their
bytes, so their integrity is checkable without the password; config and key slots
are not, so they are compared by size (and provider checksum) only.

The copy order is the repository's own commit order, which is what keeps a replica
consistent: data → index → keys + config → snapshots. Locks are never replicated:
they belong to the processes of one site.
"""

from __future__ import annotations

import re
from enum import StrEnum

import blake3

_HEX64 = re.compile(r"[0-9a-f]{64}")


class Kind(StrEnum):
    DATA = "data"
    INDEX = "index"
    KEYS = "keys"
    CONFIG = "config"
    SNAPSHOTS = "snapshots"
    LOCKS = "locks"
    OTHER = "other"


# Listing prefixes per kind; the config is one object, not a prefix.
PREFIX = {Kind.DATA: "data/", Kind.INDEX: "index/", Kind.KEYS: "keys/",
          Kind.SNAPSHOTS: "snapshots/", Kind.LOCKS: "locks/"}
CONFIG_KEY = "config"

# Copy phases, in commit order. Keys and config share a phase: both are needed to open
# the repository, and both come before any snapshot a reader could try to open.
PHASES: tuple[tuple[Kind, ...], ...] = ((Kind.DATA,), (Kind.INDEX,), (Kind.KEYS, Kind.CONFIG),
                                        (Kind.SNAPSHOTS,))

# Source listing order: snapshots FIRST. A concurrent backup commits data → index →
# snapshot, so every snapshot we saw was committed before we listed data and index,
# and the objects it needs are in those later listings.
LIST_ORDER: tuple[Kind, ...] = (Kind.SNAPSHOTS, Kind.KEYS, Kind.CONFIG, Kind.INDEX, Kind.DATA)

_BY_HEAD = {k.value: k for k in Kind if k not in (Kind.CONFIG, Kind.OTHER)}

CONTENT_ADDRESSED = frozenset({Kind.DATA, Kind.INDEX, Kind.SNAPSHOTS})


def kind_of(key: str) -> Kind:
    if key == CONFIG_KEY:
        return Kind.CONFIG
    return _BY_HEAD.get(key.split("/", 1)[0], Kind.OTHER)  # a dict, not Kind(): hot path


def expected_hash(key: str) -> str | None:
    """The BLAKE3 hex digest an object's bytes must have, or None if not content-addressed.

    A key under a content-addressed prefix whose name is not a 64-hex id returns ""
    (it can never verify), so a stray file there is treated as corrupt, not trusted.
    """
    kind = kind_of(key)
    if kind not in CONTENT_ADDRESSED:
        return None
    name = key.rsplit("/", 1)[-1]
    if not _HEX64.fullmatch(name):
        return ""
    if kind is Kind.DATA and key != data_key(name):
        return ""
    return name


def data_key(object_id: str) -> str:
    return f"data/{object_id[:2]}/{object_id}"


def object_id(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    return blake3.blake3(data, max_threads=1).hexdigest()


def new_hasher() -> blake3.blake3:
    return blake3.blake3()
