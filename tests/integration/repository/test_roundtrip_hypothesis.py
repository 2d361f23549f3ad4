"""Hypothesis: random trees survive backup → restore byte-identical, metadata included."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dr_orchestrator.repository import ChunkerParams, Repository
from dr_orchestrator.storage.local import LocalBackend
from tests.integration.repository.helpers import FAST_KDF, assert_same_tree

names = st.text(alphabet="abcé-_ .x", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
contents = st.one_of(
    st.binary(max_size=3000),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=64), st.integers(1, 20000)),
    st.builds(lambda n: os.urandom(n), st.integers(0, 300_000)),
)
entry = st.tuples(
    st.lists(names, min_size=1, max_size=3),
    st.sampled_from(["file", "file", "file", "sparse", "symlink", "hardlink", "dir"]),
    contents,
    st.sampled_from([0o644, 0o600, 0o755, 0o700, 0o4755, 0o1777, 0o400]),
    st.integers(0, 2_000_000_000_000_000_000),
)


def build(root: Path, entries: list[tuple[list[str], str, bytes, int, int]]) -> None:
    files: list[Path] = []
    dirs: list[tuple[Path, int, int]] = []
    for parts, kind, data, mode, mtime in entries:
        p = root.joinpath(*parts)
        if any(q.exists() and not q.is_dir() or q.is_symlink() for q in p.parents if root in q.parents):
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(p):
            continue
        if kind == "dir":
            p.mkdir()
            dirs.append((p, mode & 0o777 | 0o700, mtime))
            continue
        if kind == "symlink":
            os.symlink(data[:20].hex() or "target", p)
            os.utime(p, ns=(mtime, mtime), follow_symlinks=False)
            continue
        if kind == "hardlink" and files:
            os.link(files[len(data) % len(files)], p)
            continue
        with open(p, "wb") as f:
            if kind == "sparse":
                f.truncate(len(data) * 100 + (3 << 20))
                f.seek(len(data) * 50)
            f.write(data)
        os.chmod(p, mode)
        os.utime(p, ns=(mtime, mtime))
        files.append(p)
    for p, mode, mtime in reversed(dirs):
        os.chmod(p, mode)
    for dirpath, _d, _f in sorted(os.walk(root), reverse=True):
        os.utime(dirpath, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entry, min_size=1, max_size=14))
def test_random_trees_round_trip(entries: list[tuple[list[str], str, bytes, int, int]]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dro-hyp-"))
    try:
        src = tmp / "src"
        src.mkdir()
        build(src, entries)
        # Small chunks so even small examples span several chunks and packs.
        repo = Repository.init(LocalBackend(tmp / "repo"), "pw", kdf=FAST_KDF,
                               chunker_params=ChunkerParams(avg=16 << 10, min=4 << 10, max=64 << 10),
                               pack_size=256 << 10)
        snap = repo.backup([str(src)])
        Repository.open(repo.backend, "pw").restore(snap, str(tmp / "out"))
        assert_same_tree(src, tmp / "out" / str(src).lstrip("/"))
        # A second backup of the unchanged tree stores no new data blobs.
        again = repo.backup([str(src)])
        assert again.summary["files_changed"] == 0 and again.summary["files_new"] == 0
        assert repo.verify(1.0).ok
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
