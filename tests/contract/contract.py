"""The storage contract every backend must pass, against a real server.

How a backend joins (one line plus a fixture)::

    from tests.contract.contract import BackendContract
    from tests.contract.locations import s3_location as make_location  # noqa: F401

    class TestS3(BackendContract): ...

A subclass must provide ONE pytest fixture named ``make_location``: a callable
``make_location(variant: str = "main") -> (url, options)`` returning the URL and
storage options (dict of str) of a fresh, empty location on a real server on
127.0.0.1. Each call creates a new bucket/container/directory. Variants:

- ``"main"``: a plain location;
- ``"other"``: a second location of the same provider for server-side copy
  (another bucket, in another region where the provider has regions);
- ``"locked"``: a location with object lock / retention, or ``pytest.skip(...)``.

The URL + options must be enough to reopen the location in a subprocess with
``open_backend(url, options)`` (the big-object test does that to measure RSS).
Class attributes a subclass may override: ``list_keys`` (default 5,000) and
``big_mib`` (default 100).

Fixtures this class gives its tests: ``backend`` (a fresh location, opened) and
``backend_factory(variant)`` (opens another one; closed at teardown).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from dr_orchestrator.errors import InvalidKey, ObjectExists, ObjectLocked, ObjectNotFound
from dr_orchestrator.storage import Backend, open_backend
from dr_orchestrator.storage.url import SECRET_OPTIONS

Location = tuple[str, dict[str, str]]
ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def with_subpath(url: str, sub: str) -> str:
    """`url` with `/sub` appended to its path, query kept."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path.rstrip("/") + "/" + sub, p.query, p.fragment))


class BackendContract:
    list_keys = 5000
    big_mib = 100

    @pytest.fixture
    def backend_factory(self, make_location: Callable[..., Location]) -> Iterator[Callable[..., Backend]]:
        opened: list[Backend] = []

        def factory(variant: str = "main") -> Backend:
            b = open_backend(*make_location(variant))
            opened.append(b)
            return b

        yield factory
        for b in opened:
            b.close()

    @pytest.fixture
    def backend(self, backend_factory: Callable[..., Backend]) -> Backend:
        return backend_factory("main")

    # --- round trips ----------------------------------------------------------

    def test_empty_object_round_trip(self, backend: Backend) -> None:
        backend.put("empty", b"")
        backend.put("empty-stream", BytesIO(b""))
        for key in ("empty", "empty-stream"):
            assert backend.get(key) == b""
            assert backend.stat(key).size == 0
            with backend.open_read(key) as f:
                assert f.read() == b""

    def test_small_object_round_trip_and_overwrite(self, backend: Backend) -> None:
        data = os.urandom(1000)
        backend.put("dir/small", data)
        assert backend.get("dir/small") == data
        backend.put("dir/small", BytesIO(b"second"))  # streamed overwrite
        assert backend.get("dir/small") == b"second"
        info = backend.stat("dir/small")
        assert info.key == "dir/small" and info.size == 6

    def test_big_streamed_object_bounded_memory(self, make_location: Callable[..., Location]) -> None:
        url, options = make_location("main")
        env = {**os.environ, "DRO_MEMCHECK_URL": url, "DRO_MEMCHECK_OPTIONS": json.dumps(options)}
        proc = subprocess.run([sys.executable, "-m", "tests.contract.memcheck", str(self.big_mib)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        assert r["size"] == self.big_mib * MiB
        assert r["sha_read"] == r["sha_written"]
        assert r["sha_range"] == r["sha_expected_range"]
        grown = (r["peak_rss"] - r["baseline_rss"]) / MiB
        assert grown < 150, f"peak RSS grew by {grown:.0f} MiB while streaming {self.big_mib} MiB"

    def test_ranged_reads(self, backend: Backend) -> None:
        data = os.urandom(10_000)
        backend.put("r", data)
        cases = [(0, 10), (9_990, None), (5_000, 100), (9_995, 100), (10_000, None), (123, 0), (0, None)]
        for offset, length in cases:
            with backend.open_read("r", offset, length) as f:
                got = f.read()
            end = None if length is None else offset + length
            assert got == data[offset:end], (offset, length)
        with backend.open_read("r", 100, 1000) as f:  # small reads add up to the range
            parts = [f.read(7) for _ in range(200)]
        assert b"".join(parts) == data[100:1100]

    def test_missing_object(self, backend: Backend) -> None:
        with pytest.raises(ObjectNotFound):
            backend.stat("nope")
        with pytest.raises(ObjectNotFound):
            backend.get("nope")
        with pytest.raises(ObjectNotFound), backend.open_read("nope", 10, 5) as f:
            f.read()

    # --- listing -------------------------------------------------------------

    def test_list_many_keys_with_prefix(self, backend: Backend) -> None:
        keys = [f"many/{i:05d}" for i in range(self.list_keys)]
        others = [f"many-not/{i}" for i in range(5)] + ["other/x", "manyx"]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: backend.put(k, k.encode()), keys + others))
        listing = backend.list("many/")
        first = next(listing)  # lazily produced: the first item comes before the rest
        got = [first.key] + [i.key for i in listing]
        assert sorted(got) == keys
        assert len(got) == len(set(got))
        sizes = {i.key: i.size for i in backend.list("many-not/")}
        assert sizes == {k: len(k) for k in others[:5]}
        assert len(list(backend.list())) == len(keys) + len(others)
        assert list(backend.list("absent/")) == []

    def test_prefix_in_url_is_transparent(self, make_location: Callable[..., Location]) -> None:
        url, options = make_location("main")
        root = open_backend(url, options)
        nested = open_backend(with_subpath(url, "site-a/repo"), options)
        try:
            nested.put("config", b"c")
            nested.put("data/ab/cd", b"d")
            assert root.get("site-a/repo/config") == b"c"
            assert sorted(i.key for i in nested.list()) == ["config", "data/ab/cd"]
            assert [i.key for i in nested.list("data/")] == ["data/ab/cd"]
            assert nested.stat("data/ab/cd").key == "data/ab/cd"
        finally:
            root.close()
            nested.close()

    # --- conditional puts, deletes, keys --------------------------------------

    def test_create_only_refused_when_key_exists(self, backend: Backend) -> None:
        backend.put("once", b"first", if_absent=True)
        with pytest.raises(ObjectExists):
            backend.put("once", b"second", if_absent=True)
        with pytest.raises(ObjectExists):
            backend.put("once", BytesIO(b"third"), if_absent=True)
        assert backend.get("once") == b"first"
        backend.put("once", b"forced")  # a plain put still overwrites
        assert backend.get("once") == b"forced"

    def test_create_only_races_have_one_winner(self, backend: Backend) -> None:
        def attempt(i: int) -> bool:
            try:
                backend.put("race", f"writer-{i}".encode(), if_absent=True)
                return True
            except ObjectExists:
                return False

        with ThreadPoolExecutor(8) as pool:
            wins = list(pool.map(attempt, range(8)))
        assert wins.count(True) == 1
        assert backend.get("race") == f"writer-{wins.index(True)}".encode()

    def test_delete(self, backend: Backend) -> None:
        backend.delete("never-existed")
        backend.delete("deep/never/existed")
        backend.put("gone", b"x")
        backend.delete("gone")
        with pytest.raises(ObjectNotFound):
            backend.stat("gone")
        assert [i.key for i in backend.list("gone")] == []

    @pytest.mark.parametrize("key", ["", "/abs", "../up", "a/../b", "a//b", "./a", "a/.", "back\\slash",
                                     ".dro-tmp-x", "data/ab/.dro-tmp-x"])
    def test_invalid_keys_rejected(self, backend: Backend, key: str) -> None:
        with pytest.raises(InvalidKey):
            backend.put(key, b"x")
        with pytest.raises(InvalidKey):
            backend.get(key)
        with pytest.raises(InvalidKey):
            backend.stat(key)
        with pytest.raises(InvalidKey):
            backend.delete(key)

    # --- copy, lock, secrets --------------------------------------------------

    def test_server_side_copy_to_another_location(self, backend: Backend,
                                                  backend_factory: Callable[..., Backend]) -> None:
        other = backend_factory("other")
        data = random.Random(7).randbytes(3 * MiB + 5)
        backend.put("src/obj", data)
        if not other.capabilities.server_side_copy:
            assert other.copy_from(backend, "src/obj", "dst/obj") is False
            return
        assert other.copy_from(backend, "src/obj", "dst/obj") is True
        assert other.get("dst/obj") == data
        assert other.stat("dst/obj").size == len(data)
        with pytest.raises(ObjectNotFound):
            other.copy_from(backend, "src/missing", "dst/missing")

    def test_object_lock_prevents_delete(self, backend_factory: Callable[..., Backend]) -> None:
        locked = backend_factory("locked")  # skips where the provider/emulator has no lock
        until = datetime.now(UTC) + timedelta(days=1)
        locked.put("held", b"keep me", retain_until=until)
        info = locked.stat("held")
        assert info.retain_until is not None
        assert abs((info.retain_until - until).total_seconds()) < 2
        with pytest.raises(ObjectLocked):
            locked.delete("held")
        assert locked.get("held") == b"keep me"
        locked.put("free", b"no retention")
        locked.delete("free")
        with pytest.raises(ObjectNotFound):
            locked.stat("free")

    def test_temp_sweep_never_removes_an_object(self, backend: Backend) -> None:
        """The optional sweep of a killed writer's temp files (storage.base.TempSweeper),
        asked the way callers ask (through the retry wrapper), even with every file old enough."""
        sweep = getattr(backend, "sweep_temps", None)
        if sweep is None:
            pytest.skip("this backend writes no temp files (and has no sweep)")
        for key in ("config", "data/ab/x", "deep/a/b/c"):
            backend.put(key, b"x")
        assert sweep(-3600.0) == (0, [])
        assert sorted(i.key for i in backend.list()) == ["config", "data/ab/x", "deep/a/b/c"]

    def test_no_secrets_in_repr_or_errors(self, make_location: Callable[..., Location]) -> None:
        url, options = make_location("main")
        secrets = [v for k, v in options.items() if k in SECRET_OPTIONS and len(v) >= 6]
        b = open_backend(url, options)
        try:
            with pytest.raises(ObjectNotFound) as err:
                b.get("missing")
            shown = " ".join([repr(b), b.url, str(err.value), err.value.hint or ""])
            for s in secrets:
                assert s not in shown
        finally:
            b.close()
