"""Replication between real local servers: S3 region → region (server-side), S3 → GCS,
GCS → Azure, local → SFTP. Synthetic content-addressed repositories keep moto's object
count low; test_repository.py replicates a real repository and restores from the target."""

from __future__ import annotations

import os
import random
import shutil
import uuid
from collections.abc import Callable

import pytest

from dr_orchestrator.replication.options import Options
from dr_orchestrator.replication.replicator import replicate
from dr_orchestrator.storage.base import Backend
from dr_orchestrator.storage.registry import open_backend
from tests.integration.replication.helpers import Counting
from tests.unit.replication.synth import FakeGraph, SynthRepo, incomplete_snapshots, stored_objects, synth_repo

Location = tuple[str, dict[str, str]]


def build(backend: Backend, snapshots: int = 3, packs: int = 3, size: int = 48 * 1024) -> SynthRepo:
    return synth_repo(backend, snapshots=snapshots, packs=packs, size=size, rng=random.Random(11))


def check_round_trip(src: Backend, dst: Backend, repo: SynthRepo, **opts: object) -> None:
    rep = replicate(src, dst, Options(**opts))  # type: ignore[arg-type]
    assert rep.ok, rep.to_dict()
    assert stored_objects(dst) == repo.contents
    assert incomplete_snapshots(dst) == {}
    again = replicate(src, dst)
    assert again.to_copy == 0 and again.counters.objects_copied == 0


@pytest.mark.services
def test_s3_region_to_region_is_server_side(s3_location: Callable[..., Location]) -> None:
    east_url, east_opts = s3_location("main")  # us-east-1
    src = open_backend(east_url, east_opts)
    repo = build(src)
    # content mode: providers copy, we read each copy back once to check its BLAKE3 name
    west = Counting(open_backend(*s3_location("other")))  # eu-west-1
    counted_src = Counting(src)
    rep = replicate(counted_src, west)
    assert rep.ok, rep.to_dict()
    total = sum(len(v) for v in repo.contents.values())
    assert rep.counters.bytes_streamed == 0 and west.put_bytes == 0  # nothing uploaded by us
    assert rep.counters.bytes_server_side == total and west.copies == len(repo.contents)
    assert counted_src.read_bytes == 0  # the source is never read: the copy is the providers' job
    assert stored_objects(west.inner) == repo.contents
    assert incomplete_snapshots(west.inner) == {}
    # checksum mode: no byte of object data passes through this process at all
    west2 = Counting(open_backend(*s3_location("other")))
    counted_src2 = Counting(src)
    rep2 = replicate(counted_src2, west2, Options(verify="checksum"))
    assert rep2.ok and rep2.counters.bytes_streamed == 0 and rep2.counters.bytes_verify_read == 0
    assert west2.put_bytes == 0 and west2.read_bytes == 0 and counted_src2.read_bytes == 0
    assert stored_objects(west2.inner) == repo.contents


@pytest.mark.services
def test_s3_to_gcs_streams_and_verifies(s3_location: Callable[..., Location],
                                        gcs_location: Callable[..., Location]) -> None:
    src = open_backend(*s3_location("main"))
    repo = build(src, size=64 * 1024)
    dst = open_backend(*gcs_location("main"))
    check_round_trip(src, dst, repo, in_memory_max=80 * 1024)  # some packs via the verifying reader


@pytest.mark.services
def test_gcs_to_azure(gcs_location: Callable[..., Location], azure_location: Callable[..., Location]) -> None:
    src = open_backend(*gcs_location("main"))
    repo = build(src)
    dst = open_backend(*azure_location("main"))
    check_round_trip(src, dst, repo, bandwidth=8 << 20)


@pytest.mark.services
def test_local_to_sftp(tmp_path, ssh_server: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    src = open_backend(f"file://{tmp_path / 'src'}")
    repo = build(src, snapshots=4)
    path = f"/tmp/dro-repl-sftp-{uuid.uuid4().hex[:10]}"
    try:
        port = ssh_server["ports"][0]  # type: ignore[index]
        dst = open_backend(f"sftp://root@127.0.0.1:{port}{path}",
                           {"key": f"file:{ssh_server['key']}", "known_hosts": str(ssh_server["known_hosts"])})
        check_round_trip(src, dst, repo, workers=4)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.services
def test_flipped_byte_in_s3_source_is_not_propagated(s3_location: Callable[..., Location],
                                                     gcs_location: Callable[..., Location]) -> None:
    src = open_backend(*s3_location("main"))
    repo = build(src, snapshots=2)
    victim = f"data/{repo.packs[-1][:2]}/{repo.packs[-1]}"  # only the newest snapshot needs it
    data = bytearray(repo.contents[victim])
    data[100] ^= 0x01
    src.put(victim, bytes(data))  # a rewritten object: the provider's own checksum is "right"
    dst = open_backend(*gcs_location("main"))
    rep = replicate(src, dst, Options(graph=FakeGraph(src)))
    assert rep.source_corrupt == [victim]
    assert victim not in {i.key for i in dst.list("data/")}
    assert list(rep.snapshots_held_back) == [repo.snapshots[-1]]
    assert rep.snapshots_copied == [repo.snapshots[0]]
    assert incomplete_snapshots(dst) == {}


@pytest.mark.services
def test_immutable_class_locks_objects_at_the_target(s3_location: Callable[..., Location]) -> None:
    from datetime import UTC, datetime, timedelta

    from dr_orchestrator.errors import ObjectLocked

    src = open_backend(*s3_location("main"))
    repo = build(src, snapshots=1, packs=2)
    dst = open_backend(*s3_location("locked"))
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    rep = replicate(src, dst, Options(retain_until=until))
    assert rep.ok
    snap_key = f"snapshots/{repo.snapshots[0]}"
    assert dst.stat(snap_key).retain_until is not None
    with pytest.raises(ObjectLocked):
        dst.delete(snap_key)
    # the source forgets it: the replica keeps it (immutable) and says so
    src.delete(snap_key)
    repo2_snap = repo.add_snapshot(n_packs=1)
    rep2 = replicate(src, dst, Options(retain_until=until))
    assert snap_key in rep2.kept_immutable and f"snapshots/{repo2_snap}" in {i.key for i in dst.list("snapshots/")}


def test_cli_url_mode_dry_run_and_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys

    src = open_backend(f"file://{tmp_path / 'src'}")
    repo = build(src, snapshots=2)
    env = {k: v for k, v in os.environ.items() if k != "DRO_PASSWORD"}
    cmd = [sys.executable, "-m", "dr_orchestrator.cli.main", "replicate", "--from", f"file://{tmp_path / 'src'}",
           "--to", f"file://{tmp_path / 'dst'}", "--json"]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, env=env, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["to_copy"] == len(repo.contents)
    assert not (tmp_path / "dst" / "snapshots").exists()
    real = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert real.returncode == 0, real.stderr
    doc = json.loads(real.stdout)
    assert doc["ok"] and doc["counters"]["objects_copied"] == len(repo.contents)
