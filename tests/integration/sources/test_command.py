"""Command source: any program's stdout stored as a file; a failing program aborts the snapshot."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import pytest

from dr_orchestrator.errors import BadInput
from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.sources import command
from dr_orchestrator.sources.process import SourceFailed

# 24 MiB of pseudo-random binary output (several chunks, no newline structure)
PRODUCER = ("import hashlib,sys\n"
            "for i in range(24 * 32):\n"
            "    sys.stdout.buffer.write(hashlib.shake_256(str(i).encode()).digest(32768))\n")


def expected_output() -> bytes:
    return b"".join(hashlib.shake_256(str(i).encode()).digest(32768) for i in range(24 * 32))


def test_round_trip_binary_stdout(repo: Repository, tmp_path: Path) -> None:
    snap = repo.backup([], streams=[command.backup_source("export", [sys.executable, "-c", PRODUCER])])
    assert snap.streams["command/export"]["source"] == "command"
    with repo.open_file(snap, "command/export") as f:
        data = f.read()
    assert hashlib.sha256(data).digest() == hashlib.sha256(expected_output()).digest()

    # restore into another command's stdin
    out = tmp_path / "copy.bin"
    n = command.restore_from_repository(repo, snap, "command/export",
                                        [sys.executable, "-c", f"import shutil,sys; shutil.copyfileobj("
                                         f"sys.stdin.buffer, open({str(out)!r}, 'wb'))"])
    assert n == len(data) == out.stat().st_size


def test_non_zero_exit_aborts_snapshot_with_stderr(repo: Repository) -> None:
    failing = [sys.executable, "-c",
               "import sys; sys.stdout.write('partial output\\n' * 1000); sys.stdout.flush(); "
               "sys.stderr.write('export: table locked\\n'); sys.exit(3)"]
    ok = command.backup_source("good", ["echo", "hello"])
    with pytest.raises(SourceFailed) as err:
        repo.backup([], streams=[ok, command.backup_source("export", failing)])
    assert "exit code 3" in err.value.message and "table locked" in err.value.message
    assert repo.snapshots() == []
    assert list(repo.backend.list("snapshots/")) == []


def test_secret_in_stderr_is_redacted(repo: Repository) -> None:
    secret = "tok-9f8e7d6c5b4a"
    argv = [sys.executable, "-c", "import os,sys; sys.stderr.write('auth failed for ' + os.environ['T']); sys.exit(1)"]
    src = command.backup_source("x", argv, env={"T": secret}, secrets=[secret])
    with pytest.raises(SourceFailed) as err:
        repo.backup([], streams=[src])
    assert "auth failed" in err.value.message and secret not in err.value.message


def test_no_shell_interpretation(repo: Repository) -> None:
    snap = repo.backup([], streams=[command.backup_source("echo", ["echo", "$(id)", ";", "|"])])
    with repo.open_file(snap, "command/echo") as f:
        assert f.read() == b"$(id) ; |\n"


def test_unknown_program_is_bad_input() -> None:
    with pytest.raises(BadInput, match="not found"):
        command.backup_source("x", ["dro-no-such-program-xyz"])


def test_restore_command_failure(repo: Repository) -> None:
    with pytest.raises(SourceFailed, match="exit code 2"):
        command.restore_into_command(io.BytesIO(b"x" * (4 << 20)),
                                     [sys.executable, "-c", "import sys; sys.exit(2)"])
