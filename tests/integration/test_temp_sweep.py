"""Sweeping the temp files of killed puts (storage.base.TempSweeper): local directory and SFTP.

Both are opened through the registry (so through the retry wrapper) on a real directory /
the real sshd at 127.0.0.1:2222, whose files live on this machine: temp files are planted
and aged directly on disk, as a killed put leaves them (`.dro-tmp-<uuid hex>`).
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from dr_orchestrator.replication import listing
from dr_orchestrator.storage import Backend, open_backend
from dr_orchestrator.storage.base import STALE_TEMP_AGE
from dr_orchestrator.storage.retry import unwrap
from dr_orchestrator.storage.sftp import SFTPBackend

DAY = 24 * 3600
PACK = "ab" * 32  # a content-addressed name's shape: data/ab/abab…


def temp_name() -> str:
    return f".dro-tmp-{uuid.uuid4().hex}"


def plant(root: Path, rel: str, age: float, data: bytes = b"half an upload") -> Path:
    """A file at `root/rel` last modified `age` seconds ago."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    age_file(path, age)
    return path


def age_file(path: Path, age: float) -> None:
    t = time.time() - age
    os.utime(path, (t, t), follow_symlinks=False)


@pytest.fixture
def sftp_location(ssh_server: dict[str, object]) -> Iterator[tuple[Backend, Path]]:
    """(backend as the registry opens it, the directory on disk behind it)."""
    root = Path(f"/tmp/dro-sweep-{uuid.uuid4().hex[:12]}")  # a real disk, as test_sftp_backend.py
    backend = open_backend(f"sftp://root@127.0.0.1:2222{root}",
                           {"key": f"file:{ssh_server['key']}", "known_hosts": str(ssh_server["known_hosts"])})
    yield backend, root
    backend.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["local", "sftp"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Backend, Path]]:
    if request.param == "sftp":
        yield request.getfixturevalue("sftp_location")
        return
    backend = open_backend(f"file://{tmp_path / 'repo'}")
    yield backend, tmp_path / "repo"
    backend.close()


def temps_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob(".dro-tmp-*")}


def test_only_stale_temp_files_are_removed(location: tuple[Backend, Path]) -> None:
    backend, root = location
    backend.put("config", b"{}")
    backend.put(f"data/ab/{PACK}", b"pack")
    age_file(root / "data/ab" / PACK, 2 * DAY)  # an object as old as the stale temps: kept
    stale = [plant(root, temp_name(), 2 * DAY),  # the config's (at the root)
             plant(root, f"data/ab/{temp_name()}", 2 * DAY),  # a pack's, nested
             plant(root, f"snapshots/{temp_name()}", STALE_TEMP_AGE + 120)]
    fresh = plant(root, f"index/{temp_name()}", 60)  # a live writer's
    others = [plant(root, "data/ab/notes.dro-tmp-x", 2 * DAY), plant(root, ".dro-tmpx", 2 * DAY)]
    keys = sorted(i.key for i in backend.list())

    assert backend.sweep_temps(STALE_TEMP_AGE) == (3, [])  # type: ignore[attr-defined]

    assert not any(p.exists() for p in stale)
    assert fresh.exists() and all(p.exists() for p in others)
    assert sorted(i.key for i in backend.list()) == keys
    assert backend.get(f"data/ab/{PACK}") == b"pack"
    assert backend.sweep_temps(STALE_TEMP_AGE) == (0, [])  # type: ignore[attr-defined]
    assert temps_under(root) == {str(fresh.relative_to(root))}


def test_symlinks_are_never_followed(location: tuple[Backend, Path], tmp_path: Path) -> None:
    backend, root = location
    backend.put("config", b"{}")
    outside = tmp_path / "outside"
    victim = plant(outside, temp_name(), 2 * DAY)  # stale and temp-named, but not ours
    (root / "data").mkdir()
    (root / "data" / "cd").symlink_to(outside, target_is_directory=True)
    link = root / temp_name()
    link.symlink_to(victim)
    age_file(link, 2 * DAY)

    assert backend.sweep_temps(STALE_TEMP_AGE) == (0, [])  # type: ignore[attr-defined]
    assert victim.exists() and link.is_symlink()


def test_a_file_that_cannot_be_removed_is_reported_and_the_sweep_goes_on(
        location: tuple[Backend, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    backend, root = location
    stuck = plant(root, f"data/00/{temp_name()}", 2 * DAY)
    gone = [plant(root, f"data/{d}/{temp_name()}", 2 * DAY) for d in ("01", "02")]

    def refuse(real):  # type: ignore[no-untyped-def]
        def remove(self_or_path, *args):  # type: ignore[no-untyped-def]
            path = args[0] if args else self_or_path
            if str(path).endswith(stuck.name):
                raise PermissionError(errno.EACCES, "Permission denied")
            return real(self_or_path, *args)
        return remove

    if isinstance(unwrap(backend), SFTPBackend):  # the server refuses (as for a file of another user)
        monkeypatch.setattr(paramiko.SFTPClient, "remove", refuse(paramiko.SFTPClient.remove))
    else:
        monkeypatch.setattr(os, "unlink", refuse(os.unlink))
    removed, problems = backend.sweep_temps(STALE_TEMP_AGE)  # type: ignore[attr-defined]

    assert removed == 2 and not any(p.exists() for p in gone) and stuck.exists()
    assert len(problems) == 1 and stuck.name in problems[0] and "ermission denied" in problems[0]


def sftp_inner(backend: Backend) -> SFTPBackend:
    inner = unwrap(backend)
    assert isinstance(inner, SFTPBackend)
    return inner


def test_sftp_sweep_after_a_repository_listing_lists_only_what_it_did_not(
        sftp_location: tuple[Backend, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    backend, root = sftp_location
    backend.put("config", b"{}")
    for d in ("ab", "cd", "ef"):
        backend.put(f"data/{d}/{d * 32}", b"pack")
    backend.put("index/" + "12" * 32, b"index")
    backend.put("locks/" + "34" * 16, b"lock")
    stale = [plant(root, f"data/cd/{temp_name()}", 2 * DAY), plant(root, f"locks/{temp_name()}", 2 * DAY)]
    listed = listing.list_repository(backend)  # as a replication lists its target (16 data/ listings)
    assert "data/cd/" + "cd" * 32 in listed and not any(".dro-tmp-" in k for k in listed)

    inner = sftp_inner(backend)
    scanned: list[str] = []
    scan = inner._scan
    monkeypatch.setattr(inner, "_scan", lambda rel: scanned.append(rel) or scan(rel))
    assert backend.sweep_temps(STALE_TEMP_AGE) == (2, [])  # type: ignore[attr-defined]

    assert sorted(scanned) == ["", "locks"]  # the root and locks/: the listing did not read them
    assert not any(p.exists() for p in stale)
    scanned.clear()
    backend.sweep_temps(STALE_TEMP_AGE)  # type: ignore[attr-defined]
    assert "data/cd" in scanned  # what a listing left is used once: a later sweep reads for itself


def test_sftp_temp_written_to_since_the_listing_is_kept(sftp_location: tuple[Backend, Path]) -> None:
    backend, root = sftp_location
    backend.put(f"data/ab/{PACK}", b"pack")
    temp = plant(root, f"data/ab/{temp_name()}", 2 * DAY)
    list(backend.list("data/"))  # sees it stale …
    age_file(temp, 0)  # … then its writer writes again

    assert backend.sweep_temps(STALE_TEMP_AGE) == (0, [])  # type: ignore[attr-defined]
    assert temp.exists()


def test_prune_sweeps_the_temp_files_of_killed_backups(location: tuple[Backend, Path], tmp_path: Path) -> None:
    """A backup killed mid-put leaves a temp file beside its pack; the repository's own
    maintenance, prune, removes it once a day old (a dry run touches nothing)."""
    from dr_orchestrator.repository import Repository

    backend, root = location
    repo = Repository.init(backend, "correct horse")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(300_000))
    repo.backup([str(src)])
    pack_dir = next(p.parent for p in (root / "data").rglob("*") if p.is_file())
    killed = plant(root, f"{pack_dir.relative_to(root)}/{temp_name()}", 2 * DAY)
    live = plant(root, f"index/{temp_name()}", 60)  # a put in progress right now

    assert repo.prune(dry_run=True).temp_files_removed == 0
    assert killed.exists()
    rep = repo.prune()
    assert rep.temp_files_removed == 1 and rep.warnings == []
    assert not killed.exists() and live.exists()
    assert Repository.open(backend, "correct horse").verify(1.0).ok


def test_only_the_repository_is_swept_and_a_stamp_of_zero_is_no_age(location: tuple[Backend, Path]) -> None:
    """A sweep walks the root and the repository's own directories (a repository at a
    home directory's root is not a licence to walk the whole home), and a temp file whose
    server reports no real modification time is never judged stale."""
    backend, root = location
    backend.put("config", b"{}")
    outside = plant(root, f"not-the-repo/{temp_name()}", 2 * DAY)
    stamped_zero = plant(root, f"data/ab/{temp_name()}", 0)
    os.utime(stamped_zero, (0, 0))
    stale = plant(root, f"keys/{temp_name()}", 2 * DAY)
    assert backend.sweep_temps(STALE_TEMP_AGE) == (1, [])  # type: ignore[attr-defined]
    assert outside.exists() and stamped_zero.exists() and not stale.exists()
