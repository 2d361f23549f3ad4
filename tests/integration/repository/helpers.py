"""Build source trees and compare a restore with its source, metadata included."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dr_orchestrator.repository import KdfParams

FAST_KDF = KdfParams(time_cost=1, memory_kib=1024, parallelism=1)


def snapshot_of_tree(root: Path) -> dict[str, tuple[object, ...]]:
    """path → comparable facts (type, mode, mtime, content / target, hard-link group)."""
    out: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(p), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                group = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
                out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, p.read_bytes(), group)
    return out


def assert_same_tree(src: Path, dst: Path) -> None:
    a, b = snapshot_of_tree(src), snapshot_of_tree(dst)
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k] == b[k], k
    assert stat.S_IMODE(src.stat().st_mode) == stat.S_IMODE(dst.stat().st_mode)
    assert src.stat().st_mtime_ns == dst.stat().st_mtime_ns


def make_sample_tree(root: Path, *, big: int = 3 << 20) -> None:
    """A small tree with every kind of thing the repository must keep."""
    (root / "docs" / "deep" / "er").mkdir(parents=True)
    (root / "docs" / "a.txt").write_text("hello world\n" * 500)
    (root / "docs" / "deep" / "er" / "b.txt").write_text("nested\n")
    (root / "empty").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(big))
    (root / "text.log").write_bytes(b"line of a log file that compresses well\n" * 40000)
    with open(root / "vm.img", "wb") as f:
        f.truncate(12 << 20)
        f.seek(5 << 20)
        f.write(os.urandom(300_000))
    os.symlink("docs/a.txt", root / "link")
    os.symlink("/nonexistent/target", root / "dangling")
    os.link(root / "docs" / "a.txt", root / "hard")
    os.chmod(root / "docs" / "deep" / "er" / "b.txt", 0o600)
    os.chmod(root / "docs" / "deep", 0o750)
    os.utime(root / "docs" / "a.txt", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    os.utime(root / "docs" / "deep", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
