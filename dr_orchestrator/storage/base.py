"""The one storage interface every backend implements.

Keys are '/'-separated relative paths ("data/ab/abcdef…"); `validate_key` rejects
empty keys, absolute keys, '..' segments and other path tricks before any backend
sees them. Backends translate their SDK's errors into `dr_orchestrator.errors`
storage errors (ObjectNotFound, ObjectExists, PermissionDenied, StorageUnavailable …);
retries are decided only by `storage.retry` from an error's `retryable` flag.
"""

from __future__ import annotations

import copyreg
import functools
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from types import MappingProxyType
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Protocol, cast, runtime_checkable

from dr_orchestrator.errors import InvalidKey

if TYPE_CHECKING:
    from datetime import datetime


# The default of a record's mapping field: one shared, read-only empty mapping (never a
# dict that one caller could fill for all). A mappingproxy is not picklable by itself: it
# is pickled (and deep-copied) as a new one over a copy of its items.
EMPTY_MAPPING: Mapping[str, str] = MappingProxyType({})


def read_only(items: dict[str, str]) -> MappingProxyType[str, str]:
    """A read-only view of `items` (what a pickled mappingproxy is rebuilt with)."""
    return MappingProxyType(items)


copyreg.pickle(MappingProxyType, lambda m: (read_only, (dict(m),)))

# The records of this layer are NamedTuples, not dataclasses: `dro replicate` imports
# this module on every start, and dataclasses (which loads inspect, ~8 ms) and the
# methods they generate (~0.8 ms a class) were a tenth of an incremental run.


class ObjectInfo(NamedTuple):
    """One object as a listing or a stat reports it (immutable)."""
    key: str
    size: int
    modified: datetime | None = None
    etag: str | None = None
    # Checksums the provider reported, by algorithm name ("md5", "crc32c", "sha256").
    checksums: Mapping[str, str] = EMPTY_MAPPING
    retain_until: datetime | None = None


class Capabilities(NamedTuple):
    """What a backend's provider can do; callers pick their strategy from it."""
    server_side_copy: bool = False  # copy_from() without bytes flowing through us
    conditional_put: bool = False  # if_absent enforced by the server, not check-then-put
    object_lock: bool = False  # retention that even the owner cannot shorten
    checksums: tuple[str, ...] = ()  # algorithms the provider reports/verifies
    atomic_put: bool = True  # a partially written object is never visible


@runtime_checkable
class Backend(Protocol):
    """A flat key → bytes store. Implementations: local, s3, gcs, azure, sftp."""

    url: str  # display URL, never containing credentials
    capabilities: Capabilities

    def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False,
            retain_until: datetime | None = None) -> None:
        """Store `data` at `key` atomically; with if_absent raise ObjectExists if present."""
        ...

    def open_read(self, key: str, offset: int = 0,
                  length: int | None = None) -> AbstractContextManager[BinaryIO]:
        """A stream over the object's bytes [offset, offset+length). Raises ObjectNotFound."""
        ...

    def get(self, key: str) -> bytes:
        """Whole object in memory (small objects only)."""
        ...

    def stat(self, key: str) -> ObjectInfo:
        """Raises ObjectNotFound."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """All objects whose key starts with `prefix`, paginated underneath."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; deleting a missing key is not an error. Raises ObjectLocked."""
        ...

    def copy_from(self, source: Backend, src_key: str, dst_key: str) -> bool:
        """Server-side copy from `source` if both ends allow it; False when not possible."""
        ...

    def close(self) -> None: ...


# Age after which a writer's temp file is abandoned. A live writer's data keeps moving its
# mtime forward, and a put commits right after its last write, so even an upload stalled by
# throttling or retries is far younger than this; a day is also far beyond any clock skew
# between us and a file server, and leaking a killed run's temps for a day costs little.
STALE_TEMP_AGE = 24 * 3600.0

# What a sweep of temp files did: (how many it removed, what it could not read or remove).
SweepResult = tuple[int, list[str]]


class TempSweeper(Protocol):
    """Optional on a Backend: one that writes visible temp files then renames them (local,
    sftp) and can remove those a killed writer left behind. Object stores have none (an
    abandoned S3/GCS/Azure multipart upload is the provider's lifecycle rules' business).
    Ask with `getattr(backend, "sweep_temps", None)`, which sees through the retry wrapper
    (isinstance would not: the wrapper's class has the attribute, its instance may not)."""

    def sweep_temps(self, older_than: float) -> SweepResult:
        """Remove this backend's temp files (only those: matched by its temp-name prefix,
        regular files, symlinks never followed) last modified more than `older_than` seconds
        ago, in its root and the repository's directories (REPO_DIRS). A file or directory
        it cannot read or remove is reported in the result, never raised."""
        ...


def sweep_temps_of(writer: object, older_than: float = STALE_TEMP_AGE) -> SweepResult:
    """The sweep of a writer of temp files (a TempSweeper: a backend, the local replica
    writer), if it is one ((0, []) if not). Housekeeping, so it never raises: an error
    nobody expected is one more problem in the result."""
    sweep = getattr(writer, "sweep_temps", None)
    if sweep is None:
        return 0, []  # an object store: nothing is written under a temp name
    try:
        return cast(SweepResult, sweep(older_than))
    except Exception as exc:  # noqa: BLE001 - reported by the caller; the caller's work goes on
        return 0, [f"{type(exc).__name__}: {exc}"]


# Writers that put an object under a temp name first (local, sftp, the replica writer)
# start that name with this; listings skip it, and no key may use it (validate_key).
TEMP_PREFIX = ".dro-tmp-"
# A repository's top-level directories: sweeps of temp files walk these and the root only.
REPO_DIRS = frozenset({"data", "index", "keys", "snapshots", "locks"})
_TEMP_SEGMENT = "/" + TEMP_PREFIX

_BAD_SEGMENTS = {"", ".", ".."}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative '/'-separated key, else raise InvalidKey."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("storage key is empty", "keys are relative paths such as 'data/ab/abcd'")
    if key.startswith("/"):
        raise InvalidKey(f"storage key {key!r} is absolute", "remove the leading '/'")
    if _CONTROL.search(key):
        raise InvalidKey(f"storage key {key!r} contains a control character or backslash")
    for seg in key.split("/"):
        if seg in _BAD_SEGMENTS:
            raise InvalidKey(f"storage key {key!r} has an empty, '.' or '..' segment",
                             "keys may not climb out of their location")
    if key.startswith(TEMP_PREFIX) or _TEMP_SEGMENT in key:
        raise InvalidKey(f"storage key {key!r} has a segment starting with {TEMP_PREFIX!r}",
                         "that prefix marks writers' temp files, which are never listed and are swept")
    if len(key.encode()) > 1024:
        raise InvalidKey(f"storage key is {len(key.encode())} bytes; the limit is 1024")
    return key


def validate_prefix(prefix: str) -> str:
    """Prefixes may be empty or end with '/', but may not climb out either."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") or "x")
    if prefix.startswith("/"):
        raise InvalidKey(f"storage prefix {prefix!r} is absolute")
    return prefix


def accepts(method: object, name: str) -> bool:
    """Whether a backend method takes the optional keyword `name` (hints such as `size` or
    `retain_until` that only some providers use). Asked per copied object: cached by the
    underlying function, not the bound method."""
    return name in _parameters(getattr(method, "__func__", method))


@functools.lru_cache(maxsize=64)
def _parameters(func: object) -> frozenset[str]:
    code = getattr(func, "__code__", None)
    if code is not None and not hasattr(func, "__wrapped__") and not hasattr(func, "__signature__"):
        # A plain function: its code object names them (importing inspect costs ~8 ms of
        # every `dro replicate` start). Positional-only ones cannot be passed by keyword.
        return frozenset(code.co_varnames[code.co_posonlyargcount:code.co_argcount + code.co_kwonlyargcount])
    import inspect

    try:
        params = inspect.signature(func).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p.name for p in params if p.kind is not p.POSITIONAL_ONLY)
