"""SFTP backend against the storage contract, on the real sshd at 127.0.0.1:2222.

"other" is a second directory on the same server, so server-side copy (OpenSSH's
copy-data extension) is exercised; a different server is covered in
tests/integration/test_sftp_backend.py.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.contract.contract import BackendContract, Location

# tmpfs: the contract is about behaviour; 5,000 fsynced files on a busy disk would only add
# minutes. Durable writes to a real disk are covered in tests/integration/test_sftp_backend.py.
BASE = "/dev/shm/dro-sftp-contract" if os.path.isdir("/dev/shm") else "/tmp/dro-sftp-contract"


@pytest.fixture
def make_location(ssh_server: dict[str, object]) -> Iterator[Callable[..., Location]]:
    made: list[str] = []

    def make(variant: str = "main") -> Location:
        if variant == "locked":
            pytest.skip("SFTP has no object lock; the sftp backend reports none")
        path = f"{BASE}/{variant}-{uuid.uuid4().hex[:12]}"
        made.append(path)
        port = ssh_server["ports"][0]  # type: ignore[index]
        return (f"sftp://root@127.0.0.1:{port}{path}",
                {"key": f"file:{ssh_server['key']}", "known_hosts": str(ssh_server["known_hosts"])})

    yield make
    for path in made:  # sshd runs on this machine: clean up directly
        shutil.rmtree(path, ignore_errors=True)


class TestSFTP(BackendContract):
    pass
