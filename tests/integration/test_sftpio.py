"""RangeReader over a real SFTP connection (the sshd on 127.0.0.1:2222): what a dropped
connection does to paramiko's prefetch thread."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from dr_orchestrator.remote.sftpio import RangeReader

pytestmark = pytest.mark.services


@pytest.fixture
def sftp(ssh_server: dict[str, object]) -> Iterator[paramiko.SFTPClient]:
    client = paramiko.SSHClient()
    client.load_host_keys(str(ssh_server["known_hosts"]))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", port=2222, username="root", key_filename=str(ssh_server["key"]),
                   look_for_keys=False, allow_agent=False)
    try:
        yield client.open_sftp()
    finally:
        client.close()


def test_a_dropped_connection_does_not_crash_the_prefetch_thread(
        sftp: paramiko.SFTPClient, monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(f"/tmp/dro-sftpio-{uuid.uuid4().hex[:12]}")
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    crashed: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", crashed.append)
    try:
        f = sftp.open(str(path), "rb")
        reader = RangeReader(f, 0, len(data))
        assert reader.read(1 << 20) == data[: 1 << 20]  # a window prefetched, over a live connection
        channel = sftp.get_channel()
        assert channel is not None
        channel.get_transport().close()  # the connection drops
        # paramiko's prefetch thread sending on the dead connection: what it runs per window
        thread = threading.Thread(target=getattr(f, "_prefetch_thread"), args=([(0, 32768)], None))  # noqa: B009
        thread.start()
        thread.join()
        assert crashed == []  # without quiet_prefetch: OSError("Socket is closed") in the thread
        with pytest.raises((OSError, EOFError, paramiko.SSHException)):
            reader.read(4 << 20)  # the reader itself still fails: its caller retries
    finally:
        path.unlink()
