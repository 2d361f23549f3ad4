"""SFTP backend beyond the shared contract: real disk, host keys, URL forms, failures.

Runs against the real sshd on 127.0.0.1:2222 (and :2223 as a different server).
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dr_orchestrator.errors import BadInput, ObjectNotFound, PermissionDenied, StorageUnavailable
from dr_orchestrator.remote import HostKeyRejected
from dr_orchestrator.storage import open_backend
from dr_orchestrator.storage.sftp import SFTPBackend, open_sftp_backend
from tests import servers

MiB = 1 << 20


@pytest.fixture
def root() -> Iterator[str]:
    path = f"/tmp/dro-sftp-it-{uuid.uuid4().hex[:12]}"  # a real disk, so fsync is real
    yield path
    shutil.rmtree(path, ignore_errors=True)


def opts(server: dict[str, object], **extra: str) -> dict[str, str]:
    return {"key": f"file:{server['key']}", "known_hosts": str(server["known_hosts"]), **extra}


@pytest.fixture
def backend(ssh_server: dict[str, object], root: str) -> Iterator[SFTPBackend]:
    b = open_sftp_backend(f"sftp://root@127.0.0.1:2222{root}", opts(ssh_server))
    yield b
    b.close()


def test_durable_put_leaves_no_temp_files(backend: SFTPBackend, root: str) -> None:
    data = os.urandom(3 * MiB + 17)
    backend.put("data/ab/obj", io.BytesIO(data))
    backend.put("data/ab/obj2", data, if_absent=True)
    assert backend.get("data/ab/obj") == data == backend.get("data/ab/obj2")
    assert sorted(os.listdir(f"{root}/data/ab")) == ["obj", "obj2"]
    assert backend.url == f"sftp://root@127.0.0.1:2222{root}"


def test_failing_source_leaves_nothing_and_is_not_translated(backend: SFTPBackend, root: str) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 3:
                raise OSError(errno.EIO, "local disk error")
            return b"x" * MiB

    with pytest.raises(OSError, match="local disk error") as err:
        backend.put("partial", Broken())  # type: ignore[arg-type]
    assert not isinstance(err.value, ObjectNotFound | StorageUnavailable)
    with pytest.raises(ObjectNotFound):
        backend.stat("partial")
    assert os.listdir(root) == []  # the temp file was removed


def test_other_server_is_not_a_server_side_copy(ssh_server: dict[str, object], backend: SFTPBackend,
                                                root: str) -> None:
    other = open_sftp_backend(f"sftp://root@127.0.0.1:2223{root}-other", opts(ssh_server))
    try:
        backend.put("src", b"payload")
        assert other.copy_from(backend, "src", "dst") is False
        assert other.copy_from(open_backend(f"file://{root}-local"), "src", "dst") is False
    finally:
        other.close()
        shutil.rmtree(f"{root}-other", ignore_errors=True)
        shutil.rmtree(f"{root}-local", ignore_errors=True)


def test_unknown_and_changed_host_keys_refused(ssh_server: dict[str, object], root: str,
                                               tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    b = open_sftp_backend(f"sftp://root@127.0.0.1:2222{root}", opts(ssh_server, known_hosts=str(empty)))
    with pytest.raises(HostKeyRejected, match="unknown"):
        b.put("x", b"x")
    changed = tmp_path / "changed_known_hosts"
    other_key = Path(servers.SSH_DIR, "sshd2_host_ed25519.pub").read_text().split()[:2]
    changed.write_text(f"[127.0.0.1]:2222 {' '.join(other_key)}\n")
    b = open_sftp_backend(f"sftp://root@127.0.0.1:2222{root}",
                          opts(ssh_server, known_hosts=str(changed), accept_unknown_host_key="true"))
    with pytest.raises(HostKeyRejected, match="CHANGED"):
        b.stat("x")
    assert not os.path.exists(root)  # nothing was written to an unverified server


def test_accept_unknown_host_key_option(ssh_server: dict[str, object], root: str, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    url = f"sftp://root@127.0.0.1:2222{root}?accept_unknown_host_key=true&known_hosts={kh}"
    b = open_backend(url, {"key": f"file:{ssh_server['key']}"})
    try:
        b.put("k", b"v")
        assert b.get("k") == b"v"
    finally:
        b.close()
    assert kh.read_text().startswith("[127.0.0.1]:2222 ssh-ed25519 ")


def test_url_forms(ssh_server: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"dro-home-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DRO_TEST_SSH_KEY", Path(str(ssh_server["key"])).read_text())
    b = open_sftp_backend(f"sftp://root@127.0.0.1:2222/~/{name}",
                          {"key": "env:DRO_TEST_SSH_KEY", "known_hosts": str(ssh_server["known_hosts"])})
    home = Path(os.path.expanduser("~root"))
    try:
        b.put("in-home", b"h")
        assert (home / name / "in-home").read_bytes() == b"h"  # relative to the login directory
        assert "BEGIN" not in repr(b) and "BEGIN" not in b.url
    finally:
        b.close()
        shutil.rmtree(home / name, ignore_errors=True)
    with pytest.raises(BadInput, match="passwords"):
        open_sftp_backend("sftp://root:hunter2@127.0.0.1:2222/tmp/x", {})
    with pytest.raises(BadInput):
        open_sftp_backend("s3://bucket/x", {})
    key_file = open_sftp_backend("sftp://root@127.0.0.1:2222/tmp/x", {"key_file": str(ssh_server["key"])})
    assert key_file.spec.key_path == ssh_server["key"] and key_file.spec.port == 2222


def test_connection_drop_mid_read_is_retryable_then_heals(backend: SFTPBackend) -> None:
    data = os.urandom(24 * MiB)
    backend.put("big", data)
    with pytest.raises(StorageUnavailable) as err, backend.open_read("big") as f:
        assert f.read(MiB) == data[:MiB]
        backend._pool.drop_connections()  # the network drops the SSH connection
        while f.read(MiB):
            pass
    assert err.value.retryable
    assert backend.get("big") == data  # the next operation reconnects


def test_nested_use_from_many_threads_does_not_deadlock(backend: SFTPBackend) -> None:
    # 12 threads each hold a reader open while writing to the same backend: 24 channels at
    # once, more than one connection carries. Extra connections open, then drain away.
    n = 12
    for i in range(n):
        backend.put(f"src/{i}", bytes([i]) * 100_000)
    barrier = threading.Barrier(n)

    def job(i: int) -> None:
        with backend.open_read(f"src/{i}") as f:
            barrier.wait(30)
            backend.put(f"dst/{i}", f)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert all(backend.get(f"dst/{i}") == bytes([i]) * 100_000 for i in range(n))
    assert backend._pool.connections == 1


def test_errors_are_translated(backend: SFTPBackend) -> None:
    # root ignores permissions on this server, so feed the translator what paramiko raises.
    denied = backend._translate(PermissionError(errno.EACCES, "Permission denied"), "k", connection_ok=True)
    assert isinstance(denied, PermissionDenied) and "k" in denied.message
    gone = backend._translate(FileNotFoundError(errno.ENOENT, "No such file"), "k", connection_ok=True)
    assert isinstance(gone, ObjectNotFound)
    dropped = backend._translate(EOFError(), "k", connection_ok=False)
    assert isinstance(dropped, StorageUnavailable) and dropped.retryable
    failure = backend._translate(OSError("Failure"), "k", connection_ok=True)
    assert not failure.retryable
