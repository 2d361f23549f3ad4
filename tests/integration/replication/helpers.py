"""A counting Backend proxy: proves which bytes went through this process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from dr_orchestrator.storage.base import Backend


class Counting:
    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.url = inner.url
        self.capabilities = inner.capabilities
        self.put_bytes = 0
        self.read_bytes = 0
        self.copies = 0
        self._lock = threading.Lock()

    def _add(self, field: str, n: int) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + n)

    def put(self, key: str, data: Any, **kw: Any) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            self._add("put_bytes", len(data))
            return self.inner.put(key, data, **kw)
        outer = self

        class _R:
            def read(self, n: int = -1) -> bytes:
                b = data.read(n)
                outer._add("put_bytes", len(b))
                return b

            def readable(self) -> bool:
                return True

            def seekable(self) -> bool:
                return False

        return self.inner.put(key, _R(), **kw)  # type: ignore[arg-type]

    @contextmanager
    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        outer = self
        with self.inner.open_read(key, offset, length) as f:
            class _R:
                def read(self, n: int = -1) -> bytes:
                    b = f.read(n)
                    outer._add("read_bytes", len(b))
                    return b

                def readable(self) -> bool:
                    return True

            yield _R()  # type: ignore[misc]

    def get(self, key: str) -> bytes:
        data = self.inner.get(key)
        self._add("read_bytes", len(data))
        return data

    def copy_from(self, source: Backend, src_key: str, dst_key: str, **kw: Any) -> bool:
        src = source.inner if isinstance(source, Counting) else source
        ok = self.inner.copy_from(src, src_key, dst_key, **kw)
        if ok:
            self._add("copies", 1)
        return ok

    def __getattr__(self, name: str) -> Any:  # stat, list, delete, close
        return getattr(self.inner, name)
