"""Fixtures for the source tests: throwaway PostgreSQL databases and a local repository."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.storage.registry import open_backend

PASSWORD = "test-repo-password"


def psql(port: int, db: str, sql: str) -> str:
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db,
                          "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                         capture_output=True, text=True, check=True, timeout=300)
    return out.stdout.strip()


@pytest.fixture
def pg_db(pg_clusters: dict[str, str]) -> Iterator[Callable[[int, str], str]]:
    """Factory: create a uniquely named database on a cluster port; all dropped afterwards."""
    made: list[tuple[int, str]] = []

    def create(port: int, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        psql(port, "postgres", f"CREATE DATABASE {name}")
        made.append((port, name))
        return name

    yield create
    for port, name in made:
        psql(port, "postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    r = Repository.init(open_backend(f"file://{tmp_path / 'repo'}"), PASSWORD)
    yield r
    r.close()
