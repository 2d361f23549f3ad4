"""SFTP under network faults: the fault proxy sits between paramiko and the real sshd.

Resets and stalls mid-transfer must end either byte-exact after retries or in a clear
retryable error, never in a corrupt or partial object (checked with a direct client).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dr_orchestrator.errors import ObjectNotFound, StorageUnavailable
from dr_orchestrator.storage import Backend, open_backend
from dr_orchestrator.storage.retry import RetryPolicy
from tests import servers
from tests.contract.faultproxy import FaultProxy

MiB = 1 << 20
FAST = RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.5, max_total=60)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def setup(ssh_server: dict[str, object], tmp_path: Path) -> Iterator[tuple[Backend, Backend, FaultProxy]]:
    root = f"/dev/shm/dro-sftp-faults-{uuid.uuid4().hex[:12]}"
    with FaultProxy(("127.0.0.1", 2222)) as proxy:
        # The proxy is the same sshd under another port: record its (verified) key there.
        key = " ".join(Path(servers.SSH_DIR, "sshd_host_ed25519.pub").read_text().split()[:2])
        kh = tmp_path / "known_hosts"
        kh.write_text(f"[127.0.0.1]:{proxy.port} {key}\n")
        opts = {"key": f"file:{ssh_server['key']}", "known_hosts": str(ssh_server["known_hosts"])}
        direct = open_backend(f"sftp://root@127.0.0.1:2222{root}", opts)
        faulty = open_backend(f"sftp://root@127.0.0.1:{proxy.port}{root}",
                              {**opts, "known_hosts": str(kh), "timeout": "2", "connect_timeout": "3"},
                              policy=FAST)
        yield direct, faulty, proxy
        faulty.close()
        direct.close()
    shutil.rmtree(root, ignore_errors=True)


def test_reads_resume_after_resets_and_stalls(setup: tuple[Backend, Backend, FaultProxy]) -> None:
    direct, faulty, proxy = setup
    data = os.urandom(20 * MiB)
    direct.put("obj", data)
    faulty.stat("obj")  # connect first: faults count bytes of the transfer, not the handshake
    proxy.add("reset", after=3 * MiB, direction="down")
    proxy.add("reset", after=1 * MiB, direction="down")
    proxy.add("stall", after=512 * 1024, direction="down", seconds=6)  # longer than timeout=2
    with faulty.open_read("obj") as f:
        got = b"".join(iter(lambda: f.read(MiB), b""))
    assert _sha(got) == _sha(data)
    assert proxy.fired >= 2
    with faulty.open_read("obj", 5 * MiB, 7 * MiB) as f:
        assert f.read() == data[5 * MiB: 12 * MiB]


def test_upload_retried_byte_exact(setup: tuple[Backend, Backend, FaultProxy]) -> None:
    direct, faulty, proxy = setup
    data = os.urandom(6 * MiB)
    proxy.add("reset", after=1 * MiB, direction="up")
    proxy.add("stall", after=2 * MiB, direction="up", seconds=6)
    faulty.put("up", io.BytesIO(data))
    assert proxy.fired >= 1
    assert _sha(direct.get("up")) == _sha(data)
    assert [i.key for i in direct.list()] == ["up"]  # temp files of broken attempts stay hidden


def test_persistent_faults_give_retryable_error_never_partial(
        setup: tuple[Backend, Backend, FaultProxy]) -> None:
    direct, faulty, proxy = setup
    data = os.urandom(4 * MiB)
    direct.put("old", data)
    proxy.always("reset", after=1 * MiB, direction="up")
    with pytest.raises(StorageUnavailable) as err:
        faulty.put("new", io.BytesIO(os.urandom(4 * MiB)))
    assert err.value.retryable
    with pytest.raises(ObjectNotFound):
        direct.stat("new")
    proxy.always(None)
    assert _sha(faulty.get("old")) == _sha(data)


def test_temp_sweep_stops_at_a_lost_connection_and_the_next_one_carries_on(
        setup: tuple[Backend, Backend, FaultProxy]) -> None:
    from dr_orchestrator.storage.base import STALE_TEMP_AGE
    from dr_orchestrator.storage.retry import unwrap
    from dr_orchestrator.storage.sftp import SFTPBackend

    direct, faulty, proxy = setup
    inner = unwrap(direct)
    assert isinstance(inner, SFTPBackend)
    temps = []
    for d in range(8):
        direct.put(f"data/{d:02x}/obj", b"x")
        temp = Path(inner.root, f"data/{d:02x}/.dro-tmp-{uuid.uuid4().hex}")
        temp.write_bytes(b"killed mid-upload")
        old = time.time() - 2 * STALE_TEMP_AGE
        os.utime(temp, (old, old))
        temps.append(temp)
    faulty.stat("data/00/obj")  # connected
    proxy.always("reset", after=0, direction="down")  # every answer, and every reconnect, is cut

    removed, problems = faulty.sweep_temps(STALE_TEMP_AGE)  # type: ignore[attr-defined]
    assert removed == 0 and all(t.exists() for t in temps)
    assert len(problems) == 2 and "sweep of temp files stopped" in problems[1]  # not one per directory
    proxy.always(None)
    assert faulty.sweep_temps(STALE_TEMP_AGE) == (8, [])  # type: ignore[attr-defined]
    assert not any(t.exists() for t in temps)
