"""Pure logic of the storage layer: URL parsing / secret refs, and the retry wrapper (with a fake backend)."""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from dr_orchestrator.errors import BadInput, InvalidKey, ObjectNotFound, StorageUnavailable
from dr_orchestrator.storage.base import Capabilities, ObjectInfo
from dr_orchestrator.storage.retry import RetryingBackend, RetryPolicy
from dr_orchestrator.storage.url import parse_url, resolve_secret

NOW = RetryPolicy(attempts=4, base_delay=0.0, max_delay=0.0, max_total=5)


def test_parse_s3_url_options_and_display_without_secrets() -> None:
    u = parse_url("s3://bucket/a/b?region=eu-west-1&endpoint=http://127.0.0.1:5000&secret_access_key=TOPSECRET",
                  {"region": "us-east-2"})
    assert (u.scheme, u.netloc, u.path) == ("s3", "bucket", "a/b")
    assert u.option("region") == "us-east-2"  # the runbook wins over the query string
    assert "TOPSECRET" not in u.display and "TOPSECRET" not in repr(u)
    assert u.display == "s3://bucket/a/b?region=us-east-2&endpoint=http://127.0.0.1:5000"


def test_parse_az_local_and_bad_urls(tmp_path: Path) -> None:
    assert parse_url("az://acct/container/p/q").split_path() == ("container", "p/q/")
    assert parse_url("az://acct/container").split_path() == ("container", "")
    assert parse_url(str(tmp_path)).path == str(tmp_path)
    assert parse_url(f"file://{tmp_path}").display == f"file://{tmp_path}"
    with pytest.raises(BadInput, match="unsupported"):
        parse_url("ftp://host/x?password=hunter2")
    with pytest.raises(BadInput, match="names no bucket"):
        parse_url("s3:///x")
    with pytest.raises(InvalidKey):
        parse_url("s3://bucket/a/../b")


def test_secret_refs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRO_T_SECRET", "s3cr3t")
    (tmp_path / "k").write_text("from-file\n")
    assert resolve_secret("env:DRO_T_SECRET") == "s3cr3t"
    assert resolve_secret(f"file:{tmp_path / 'k'}") == "from-file"
    assert resolve_secret("literal") == "literal"
    with pytest.raises(BadInput, match="DRO_T_MISSING"):
        resolve_secret("env:DRO_T_MISSING")
    with pytest.raises(BadInput, match="cannot be read"):
        resolve_secret(f"file:{tmp_path / 'nope'}")
    u = parse_url("s3://b", {"secret_access_key": "env:DRO_T_SECRET"})
    assert u.secret("secret_access_key") == "s3cr3t"


class Flaky:
    """A fake backend whose operations fail `fails` times before working."""

    url = "fake://x"
    capabilities = Capabilities()

    def __init__(self, fails: int, error: type[Exception] = StorageUnavailable, break_at: int = 0) -> None:
        self.fails = fails
        self.error = error
        self.calls = 0
        self.seen: list[bytes] = []
        self.data = bytes(range(256)) * 40
        self.break_at = break_at  # reads break after this many bytes, `fails` times

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.calls <= self.fails:
            raise self.error("boom")

    def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False, retain_until: object = None) -> None:
        body = data if isinstance(data, bytes) else data.read(100)  # a partial read, then failure
        self.seen.append(body)
        self._maybe_fail()
        if not isinstance(data, bytes):
            self.seen[-1] = body + data.read()

    @contextlib.contextmanager
    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        end = len(self.data) if length is None else offset + length
        part = self.data[offset:end]
        flaky = self

        class S:
            pos = 0

            def read(self, n: int = -1) -> bytes:
                if flaky.break_at and self.pos >= flaky.break_at and flaky.fails > 0:
                    flaky.fails -= 1
                    raise StorageUnavailable("connection reset")
                out = part[self.pos:self.pos + (n if n >= 0 else len(part))]
                self.pos += len(out)
                return out

        yield S()  # type: ignore[misc]

    def get(self, key: str) -> bytes:
        self._maybe_fail()
        return b"ok"

    def stat(self, key: str) -> ObjectInfo:
        self._maybe_fail()
        return ObjectInfo(key, 1)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for i in range(5):
            if i == 3 and self.fails > 0:
                self.fails -= 1
                raise StorageUnavailable("page failed")
            yield ObjectInfo(f"k{i}", i)

    def delete(self, key: str) -> None:
        self._maybe_fail()

    def copy_from(self, source: object, src_key: str, dst_key: str) -> bool:
        return source is not None

    def close(self) -> None:
        pass


def test_retries_retryable_errors_only() -> None:
    f = Flaky(2)
    assert RetryingBackend(f, NOW).get("k") == b"ok"
    assert f.calls == 3
    g = Flaky(1, ObjectNotFound)
    with pytest.raises(ObjectNotFound):
        RetryingBackend(g, NOW).stat("k")
    assert g.calls == 1


def test_gives_up_after_attempts_with_a_retryable_error() -> None:
    f = Flaky(10)
    with pytest.raises(StorageUnavailable, match="gave up after 4 attempt") as err:
        RetryingBackend(f, NOW).delete("k")
    assert err.value.retryable and f.calls == 4


def test_gives_up_when_the_time_budget_is_spent() -> None:
    f = Flaky(10)
    slow = RetryPolicy(attempts=50, base_delay=10, max_delay=10, max_total=0.001)
    with pytest.raises(StorageUnavailable, match="gave up after 1 attempt"):
        RetryingBackend(f, slow).delete("k")


def test_seekable_stream_is_rewound_between_attempts() -> None:
    f = Flaky(2)
    RetryingBackend(f, NOW).put("k", io.BytesIO(b"A" * 300))
    assert f.seen[-1] == b"A" * 300  # the successful attempt saw the whole stream from the start


def test_unseekable_stream_fails_clearly() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            b[:1] = b"x"
            return 1

    f = Flaky(1)
    with pytest.raises(StorageUnavailable, match="cannot be rewound") as err:
        RetryingBackend(f, NOW).put("k", Pipe())  # type: ignore[arg-type]
    assert err.value.retryable and f.calls == 1


def test_reads_resume_at_the_byte_they_stopped() -> None:
    f = Flaky(3, break_at=1000)
    rb = RetryingBackend(f, NOW)
    with rb.open_read("k", 10, 5000) as s:
        got = b"".join(iter(lambda: s.read(333), b""))
    assert got == f.data[10:5010]


def test_listing_restarts_without_duplicates() -> None:
    f = Flaky(2)
    assert [i.key for i in RetryingBackend(f, NOW).list()] == ["k0", "k1", "k2", "k3", "k4"]


def test_create_only_retry_that_finds_its_own_earlier_write_succeeds() -> None:
    from dr_orchestrator.errors import ObjectExists

    class LostResponse(Flaky):
        stored: bytes | None = None

        def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False,
                retain_until: object = None) -> None:
            self.calls += 1
            if self.stored is not None and if_absent:
                raise ObjectExists("exists")
            self.stored = data if isinstance(data, bytes) else b""
            if self.calls == 1:
                raise StorageUnavailable("response lost")  # the write happened, the answer did not arrive

        def get(self, key: str) -> bytes:
            assert self.stored is not None
            return self.stored

    f = LostResponse(0)
    RetryingBackend(f, NOW).put("k", b"mine", if_absent=True)
    assert f.calls == 2
    g = LostResponse(0)
    g.stored = b"someone else's"
    with pytest.raises(ObjectExists):
        RetryingBackend(g, NOW).put("k", b"mine", if_absent=True)


def test_optional_keywords_are_read_from_the_method_itself() -> None:
    import functools

    from dr_orchestrator.storage.base import accepts

    class WithHints:
        def copy_from(self, source: object, src_key: str, dst_key: str, *, size: int | None = None) -> bool:
            return True

    def wrapper_target(source: object, *, retain_until: object = None) -> bool:
        return True

    @functools.wraps(wrapper_target)
    def wrapped(*args: object, **kwargs: object) -> bool:  # follows __wrapped__, as inspect does
        return wrapper_target(*args, **kwargs)

    def local_name_only(source: object) -> bool:
        size = 1  # a local variable is not a parameter
        return bool(size)

    assert accepts(WithHints().copy_from, "size")
    assert not accepts(WithHints().copy_from, "retain_until")
    assert accepts(wrapped, "retain_until") and not accepts(wrapped, "size")
    assert not accepts(local_name_only, "size")
    assert not accepts(len, "size")  # a builtin: whatever inspect says, never an error

    def positional_only(source: object, size: int, /, *, etag: str | None = None) -> bool:
        return True

    assert not accepts(positional_only, "size") and accepts(positional_only, "etag")
    def signed(*args: object) -> bool:
        return True

    signed.__signature__ = inspect.signature(WithHints.copy_from)  # type: ignore[attr-defined]
    assert accepts(signed, "size")  # an explicit signature wins over the code object


def test_records_are_immutable_and_share_no_mutable_default() -> None:
    a, b = ObjectInfo("data/aa/x", 3), ObjectInfo("data/aa/y", 4)
    assert a.checksums == {} and a.checksums is b.checksums
    with pytest.raises(TypeError):
        a.checksums["md5"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        a.size = 5  # type: ignore[misc]
    assert a._replace(size=5) == ObjectInfo("data/aa/x", 5) and a.size == 3
    assert parse_url("s3://bucket/p").options == {}
    # Records cross process boundaries (helpers, the scheduler): the shared default too.
    assert pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a


def test_wrapper_shows_an_optional_sweep_only_when_the_backend_has_one() -> None:
    class Sweeping(Flaky):
        def sweep_temps(self, older_than: float) -> tuple[int, list[str]]:
            return int(older_than), ["one problem"]

    plain, sweeping = RetryingBackend(Flaky(0), NOW), RetryingBackend(Sweeping(0), NOW)
    assert getattr(plain, "sweep_temps", None) is None and not hasattr(plain, "sweep_temps")
    assert getattr(RetryingBackend(plain, NOW), "sweep_temps", None) is None  # wrappers of wrappers too
    assert sweeping.sweep_temps(7) == (7, ["one problem"])
    assert RetryingBackend(sweeping, NOW).sweep_temps(3) == (3, ["one problem"])
