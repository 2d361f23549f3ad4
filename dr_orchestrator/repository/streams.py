"""Stream sources: data produced by a program (pg_dump, sqlite backup, any command) backed up as a file."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO


@dataclass(frozen=True)
class StreamSource:
    """`open()` yields the stream; raising from it (or on exit, e.g. a non-zero exit status)
    aborts the backup and nothing is committed. Stored as a regular file at `name`."""

    name: str  # relative path inside the snapshot, e.g. "postgres/app.dump"
    open: Callable[[], AbstractContextManager[BinaryIO]]
    metadata: dict[str, str] = field(default_factory=dict)
    mode: int = 0o600
