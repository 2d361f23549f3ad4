"""Repository locations on every backend: local dir, S3 (moto), GCS, Azure (Azurite), SFTP (sshd)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dr_orchestrator.repository import Repository
from dr_orchestrator.storage.registry import open_backend
from tests.contract.locations import azure_location, gcs_location, local_location, s3_location  # noqa: F401
from tests.integration.repository.helpers import FAST_KDF

SFTP_BASE = "/dev/shm/dro-repo-tests" if os.path.isdir("/dev/shm") else "/tmp/dro-repo-tests"


@pytest.fixture
def sftp_location(ssh_server: dict[str, Any]) -> Iterator[Callable[..., tuple[str, dict[str, str]]]]:
    made: list[str] = []

    def make(variant: str = "main") -> tuple[str, dict[str, str]]:
        path = f"{SFTP_BASE}/{variant}-{uuid.uuid4().hex[:12]}"
        made.append(path)
        return (f"sftp://root@127.0.0.1:{ssh_server['ports'][0]}{path}",
                {"key": f"file:{ssh_server['key']}", "known_hosts": str(ssh_server["known_hosts"])})

    yield make
    for p in made:
        shutil.rmtree(p, ignore_errors=True)


BACKENDS = ["local", "s3", "gcs", "azure", "sftp"]


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    make = request.getfixturevalue(f"{request.param}_location")
    return make()  # type: ignore[no-any-return]


@pytest.fixture
def repo(location: tuple[str, dict[str, str]]) -> Iterator[Repository]:
    url, options = location
    r = Repository.init(open_backend(url, options), "correct horse", kdf=FAST_KDF)
    yield r
    r.close()


@pytest.fixture
def local_repo(tmp_path: Path) -> Iterator[Repository]:
    r = Repository.init(open_backend(str(tmp_path / "repo")), "correct horse", kdf=FAST_KDF)
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the repository cache (remote repos, verify cursor) out of the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
