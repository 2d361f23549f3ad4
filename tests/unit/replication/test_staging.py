"""Staging on local targets: while the data phase's barrier waits on the disk, the later
phases' objects are copied under staged names; each phase then renames its own into
place — never before the barrier ahead of it, never one that is held back."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from dr_orchestrator.replication import layout, localproc
from dr_orchestrator.replication.options import Options
from dr_orchestrator.replication.replicator import replicate
from dr_orchestrator.storage.local import LocalBackend
from tests.unit.replication.synth import SynthRepo, incomplete_snapshots, stored_objects, synth_repo


@pytest.fixture(params=["threads", "helpers"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "helpers":  # the helper processes stage too (protocol: stage TAB key)
        monkeypatch.setattr(localproc, "MIN_OBJECTS", 0)
        monkeypatch.setattr(localproc, "MIN_BYTES", 0)
        monkeypatch.setattr(localproc, "helper_count", lambda workers: 2)
    return str(request.param)


@pytest.fixture
def repo(tmp_path: Path) -> SynthRepo:
    return synth_repo(LocalBackend(tmp_path / "src"), packs=4, rng=random.Random(11))


def _staged(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".dro-tmp-staged-*"))


def _visible(root: Path, kinds: tuple[str, ...]) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and not p.name.startswith(".dro-tmp") and str(p.relative_to(root)).split("/")[0] in kinds)


class AtPhase:
    """Progress that runs `action` when phase `name` starts."""

    def __init__(self, name: str, action: object) -> None:
        self.name, self.action = name, action

    def phase(self, name: str, objects: int, nbytes: int) -> None:
        if name == self.name:
            self.action()  # type: ignore[operator]

    def advance(self, objects: int, nbytes: int) -> None:
        return None


def test_later_phases_are_staged_during_the_data_barrier_and_appear_only_after_it(
        repo: SynthRepo, tmp_path: Path, mode: str) -> None:
    dst = LocalBackend(tmp_path / "dst")
    seen: dict[str, object] = {}

    def at_index() -> None:  # the data phase (and its barrier) is over; nothing renamed yet
        seen["staged"] = len(_staged(dst.root))
        seen["visible"] = _visible(dst.root, ("index", "snapshots", "keys", "config"))
    rep = replicate(repo.backend, dst, Options(progress=AtPhase("index", at_index)))
    later = [k for k in repo.contents if layout.kind_of(k).value in ("index", "snapshots", "keys", "config")]
    assert seen == {"staged": len(later), "visible": []}
    assert rep.ok and stored_objects(dst) == repo.contents
    assert rep.counters.objects_copied == rep.counters.objects_streamed == len(repo.contents)
    assert incomplete_snapshots(dst) == {}
    assert not list(dst.root.rglob(".dro-tmp*"))


def test_a_held_back_snapshot_is_staged_but_never_published(repo: SynthRepo, tmp_path: Path, mode: str) -> None:
    dst = LocalBackend(tmp_path / "dst")
    held = repo.snapshots[1]
    rep = replicate(repo.backend, dst, Options(snapshot_filter=lambda ids: {held: "not verified"}))
    assert rep.snapshots_held_back == {held: "not verified"}
    assert not (dst.root / "snapshots" / held).exists()
    assert not _staged(dst.root)
    assert rep.counters.objects_copied == len(repo.contents) - 1  # the discarded copy is not counted
    assert rep.counters.bytes_streamed == sum(len(v) for k, v in repo.contents.items() if k != f"snapshots/{held}")


def test_a_stop_after_the_data_phase_leaves_no_staged_object(repo: SynthRepo, tmp_path: Path, mode: str) -> None:
    stop = threading.Event()
    dst = LocalBackend(tmp_path / "dst")
    rep = replicate(repo.backend, dst, Options(stop=stop, progress=AtPhase("index", stop.set)))
    assert rep.stopped and not rep.ok
    assert not _staged(dst.root) and not list(dst.root.rglob(".dro-tmp*"))
    assert _visible(dst.root, ("index", "snapshots")) == []
    for info in dst.list(""):
        assert dst.get(info.key) == repo.contents[info.key]


def test_a_staged_object_lost_before_its_phase_fails_and_holds_back_the_snapshots(
        repo: SynthRepo, tmp_path: Path, mode: str) -> None:
    dst = LocalBackend(tmp_path / "dst")
    lost = f"index/{repo.index_ids()[0]}"

    def lose() -> None:
        (staged,) = [p for p in _staged(dst.root) if p.name.endswith(lost.split("/")[1])]
        staged.unlink()
    rep = replicate(repo.backend, dst, Options(progress=AtPhase("index", lose)))
    assert not rep.ok and "renamed into place" in rep.failed[lost]
    assert not (dst.root / lost).exists()
    assert rep.snapshots_copied == [] and set(rep.snapshots_held_back) == set(repo.snapshots)
    assert incomplete_snapshots(dst) == {} and not _staged(dst.root)
    again = replicate(repo.backend, dst)  # the next run sends what is missing
    assert again.ok and stored_objects(dst) == repo.contents
