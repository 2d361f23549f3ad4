"""Fault injection: a TCP proxy between the client and the real server resets
connections and stalls mid-transfer. Transfers must either complete byte-exact
after retries or fail with a clear retryable error — never leave a corrupt or
partial object (checked afterwards with a fresh client that bypasses the proxy).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from dr_orchestrator.errors import ObjectNotFound, StorageUnavailable
from dr_orchestrator.storage import Backend, open_backend
from dr_orchestrator.storage.retry import RetryPolicy
from tests.contract.contract import Location
from tests.contract.faultproxy import FaultProxy
from tests.contract.locations import azure_location, gcs_location, s3_location  # noqa: F401

MiB = 1 << 20
FAST = RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.5, max_total=60)
SIZE = 6 * MiB  # several S3 parts / Azure blocks; one request on GCS (its resumable
# chunks go to the emulator's external URL, around the proxy)


def _host_port(url: str) -> tuple[str, int]:
    p = urlsplit(url)
    return p.hostname or "127.0.0.1", p.port or 80


def _proxied(provider: str, options: dict[str, str], proxy_url: str) -> dict[str, str]:
    opts = {**options, "timeout": "2"}
    if provider == "azure":
        port = urlsplit(proxy_url).port
        opts["connection_string"] = options["connection_string"].replace(
            "127.0.0.1:10000", f"127.0.0.1:{port}")
        opts["block_size_mb"] = "2"
    else:
        opts["endpoint"] = proxy_url
        opts["part_size_mb"] = "5"
    return opts


def _target(provider: str, options: dict[str, str]) -> tuple[str, int]:
    if provider == "azure":
        return ("127.0.0.1", 10000)
    return _host_port(options["endpoint"])


class _NonSeekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        return self._f.read(n)


@pytest.fixture(params=["s3", "gcs", "azure"])
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[Backend, Backend, FaultProxy, str]]:
    provider = request.param
    make: Callable[..., Location] = request.getfixturevalue(f"{provider}_location")
    url, options = make("main")
    with FaultProxy(_target(provider, options)) as proxy:
        direct = open_backend(url, options)
        faulty = open_backend(url, _proxied(provider, options, proxy.url), policy=FAST)
        yield direct, faulty, proxy, provider
        faulty.close()
        direct.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_reads_resume_after_resets_and_stalls(setup: tuple[Backend, Backend, FaultProxy, str]) -> None:
    direct, faulty, proxy, _ = setup
    data = os.urandom(20 * MiB)
    direct.put("obj", data)
    proxy.add("reset", after=3 * MiB, direction="down")
    proxy.add("reset", after=1 * MiB, direction="down")
    proxy.add("stall", after=512 * 1024, direction="down", seconds=4)
    with faulty.open_read("obj") as f:
        got = b"".join(iter(lambda: f.read(MiB), b""))
    assert _sha(got) == _sha(data)
    assert proxy.fired >= 2  # the faults really hit the transfer
    with faulty.open_read("obj", 5 * MiB, 7 * MiB) as f:  # ranged, no faults left
        assert f.read() == data[5 * MiB: 12 * MiB]


def test_seekable_upload_retried_byte_exact(setup: tuple[Backend, Backend, FaultProxy, str]) -> None:
    direct, faulty, proxy, _ = setup
    data = os.urandom(SIZE)
    proxy.add("reset", after=1 * MiB, direction="up")
    proxy.add("stall", after=2 * MiB, direction="up", seconds=4)
    faulty.put("up", io.BytesIO(data))
    assert proxy.fired >= 1
    assert _sha(direct.get("up")) == _sha(data)
    assert direct.stat("up").size == SIZE


def test_unseekable_upload_fails_clearly_without_partial_object(
        setup: tuple[Backend, Backend, FaultProxy, str]) -> None:
    direct, faulty, proxy, _ = setup
    proxy.always("reset", after=1 * MiB, direction="up")
    with pytest.raises(StorageUnavailable) as err:
        faulty.put("stream", _NonSeekable(os.urandom(SIZE)))  # type: ignore[arg-type]
    assert err.value.retryable
    assert "cannot be rewound" in err.value.message
    with pytest.raises(ObjectNotFound):
        direct.stat("stream")


def test_persistent_faults_give_retryable_error_never_corrupt_data(
        setup: tuple[Backend, Backend, FaultProxy, str]) -> None:
    direct, faulty, proxy, _ = setup
    data = os.urandom(SIZE)
    direct.put("old", data)
    proxy.always("reset", after=1 * MiB, direction="up")
    with pytest.raises(StorageUnavailable) as err:
        faulty.put("new", io.BytesIO(os.urandom(SIZE)))
    assert err.value.retryable and "gave up" in err.value.message
    with pytest.raises(ObjectNotFound):
        direct.stat("new")
    proxy.always("reset", after=0, direction="down")  # no progress at all: must give up
    with pytest.raises(StorageUnavailable), faulty.open_read("old") as f:
        while f.read(MiB):  # must raise rather than end early with a short object
            pass
    proxy.always(None)
    assert _sha(faulty.get("old")) == _sha(data)
