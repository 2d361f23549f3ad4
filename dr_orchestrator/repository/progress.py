"""Progress reporting hook used by long operations; the CLI renders it with rich."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def set_total(self, total_bytes: int | None) -> None: ...

    def advance(self, nbytes: int, nfiles: int = 0) -> None: ...


class NullProgress:
    def set_total(self, total_bytes: int | None) -> None:
        return None

    def advance(self, nbytes: int, nfiles: int = 0) -> None:
        return None
