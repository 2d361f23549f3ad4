"""Storage use cases behind `dro storage ls|cat|check`.

`check` is what a user runs first when a drill fails on storage: it opens the
location with the configured credentials and walks through list → create-only
put of a probe object → read back → stat → delete, timing each step and stopping
at the first failure with a diagnosis (what failed, the error, what to do).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dr_orchestrator.errors import (
    EXIT_OK,
    BadInput,
    DRError,
    IntegrityError,
    ObjectNotFound,
    PermissionDenied,
    StorageUnavailable,
)
from dr_orchestrator.storage.base import Backend, ObjectInfo
from dr_orchestrator.storage.registry import open_backend
from dr_orchestrator.storage.retry import RetryPolicy

# `check` should answer quickly when a server is down: few, short retries.
CHECK_POLICY = RetryPolicy(attempts=3, base_delay=0.2, max_delay=1.0, max_total=15.0)
PROBE_PREFIX = ".dro-check/"


def parse_options(pairs: list[str]) -> dict[str, str]:
    """['region=eu-west-1', 'secret_access_key=env:AWS_SECRET'] -> dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BadInput(f"storage option {pair.split('=')[0]!r} is not NAME=VALUE",
                           "write options as -o region=eu-west-1 (secrets as -o NAME=env:VAR)")
        out[name.strip()] = value
    return out


def list_objects(url: str, prefix: str = "", options: Mapping[str, str] | None = None) -> Iterator[ObjectInfo]:
    backend = open_backend(url, options)
    try:
        yield from backend.list(prefix)
    finally:
        backend.close()


def cat_object(url: str, key: str, out: BinaryIO, options: Mapping[str, str] | None = None, *,
               offset: int = 0, length: int | None = None) -> int:
    """Stream one object (or a range of it) to `out`; returns the bytes written."""
    backend = open_backend(url, options)
    written = 0
    try:
        with backend.open_read(key, offset, length) as f:
            while chunk := f.read(1 << 20):
                out.write(chunk)
                written += len(chunk)
    finally:
        backend.close()
    return written


@dataclass
class CheckStep:
    name: str
    ok: bool
    seconds: float
    detail: str = ""
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "seconds": round(self.seconds, 4), "detail": self.detail,
                "hint": self.hint}


@dataclass
class CheckReport:
    url: str
    steps: list[CheckStep] = field(default_factory=list)
    capabilities: dict[str, Any] = field(default_factory=dict)
    exit_code: int = EXIT_OK

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def diagnosis(self) -> str:
        failed = next((s for s in self.steps if not s.ok), None)
        if failed is None:
            return f"{self.url} is reachable, writable, readable and deletable with the configured credentials"
        return f"{failed.name} failed: {failed.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "diagnosis": self.diagnosis, "exit_code": self.exit_code,
                "steps": [s.to_dict() for s in self.steps], "capabilities": self.capabilities}


_HINTS: dict[type[DRError], str] = {
    PermissionDenied: "the credentials were refused: check the key/connection string and the bucket policy",
    StorageUnavailable: "the service did not answer: check the endpoint, network and that the server is up",
    ObjectNotFound: "the probe object vanished between steps: another process is deleting in this location",
    IntegrityError: "the probe came back different from what was written: the service or a proxy corrupts data",
}


def check_location(url: str, options: Mapping[str, str] | None = None,
                   policy: RetryPolicy = CHECK_POLICY) -> CheckReport:
    """Reachability and write/read/delete of a probe object; stops at the first failure."""
    report = CheckReport(url=url)
    backend: Backend | None = None

    def step(name: str, fn: Callable[[], str]) -> bool:
        start = time.monotonic()
        try:
            detail = fn()
        except DRError as exc:
            hint = exc.hint or next((h for t, h in _HINTS.items() if isinstance(exc, t)
                                     and (t is not ObjectNotFound or name in ("read", "stat"))), None)
            report.steps.append(CheckStep(name, False, time.monotonic() - start, exc.message, hint))
            report.exit_code = exc.exit_code
            return False
        report.steps.append(CheckStep(name, True, time.monotonic() - start, detail))
        return True

    def do_open() -> str:
        nonlocal backend
        backend = open_backend(url, options, policy=policy)
        report.url = backend.url
        caps = backend.capabilities
        report.capabilities = {"server_side_copy": caps.server_side_copy, "conditional_put": caps.conditional_put,
                               "object_lock": caps.object_lock, "checksums": list(caps.checksums),
                               "atomic_put": caps.atomic_put}
        return f"opened {backend.url}"

    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    payload = f"dro storage check {probe}\n".encode() * 64

    def do_list() -> str:
        assert backend is not None
        n = sum(1 for _ in zip(range(10), backend.list(), strict=False))
        return f"listing works ({n}{'+' if n == 10 else ''} object(s) seen)"

    def do_put() -> str:
        assert backend is not None
        backend.put(probe, payload, if_absent=True)
        return f"wrote {len(payload)} bytes to {probe} (create-only)"

    def do_read() -> str:
        assert backend is not None
        got = backend.get(probe)
        if got != payload:
            raise IntegrityError(f"read back {len(got)} bytes that differ from the {len(payload)} written")
        with backend.open_read(probe, 10, 20) as f:
            if f.read() != payload[10:30]:
                raise IntegrityError("a ranged read returned the wrong bytes")
        return "read back byte-exact (whole and ranged)"

    def do_stat() -> str:
        assert backend is not None
        info = backend.stat(probe)
        if info.size != len(payload):
            raise IntegrityError(f"stat reports {info.size} bytes, {len(payload)} were written")
        sums = ", ".join(f"{k}={v}" for k, v in info.checksums.items())
        return f"stat ok ({info.size} bytes{'; ' + sums if sums else ''})"

    def do_delete() -> str:
        assert backend is not None
        backend.delete(probe)
        try:
            backend.stat(probe)
        except ObjectNotFound:
            return "deleted the probe object"
        raise StorageUnavailable("the probe object is still there after delete")

    try:
        for name, fn in (("open", do_open), ("list", do_list), ("write", do_put), ("read", do_read),
                         ("stat", do_stat), ("delete", do_delete)):
            if not step(name, fn):
                if name in ("read", "stat") and backend is not None:
                    with contextlib.suppress(DRError):
                        backend.delete(probe)  # best effort: do not leave the probe behind
                break
    finally:
        if backend is not None:
            backend.close()
    return report
