"""A deterministic generated dataset for the backup benchmark, and its "next day" mutation.

Everything comes from one seed, so two runs (or two machines) back up byte-identical trees:
  src/            many small source-like text files (compressible, ~3-4x with zstd)
  media/          a few large incompressible files
  vm/disk.img     a sparse VM-image-like file: data extents separated by holes
  db/dump.sql     a large pg_dump-like plain SQL text (CREATE TABLE + COPY rows)
`mutate()` applies a ~5 % "next day" change: small files edited/added/deleted, rows
inserted near the START of the SQL dump (every later byte shifts: the CDC test) plus rows
appended, a region of the VM image rewritten in place, one new incompressible file.

`size` is the number of data bytes written (holes not counted); generation runs at several
hundred MB/s because random bytes come from an AES-CTR keystream and text is assembled from
a pre-built pool of lines.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MiB = 1 << 20
GiB = 1 << 30
T0 = 1_767_225_600  # fixed mtime of day 1 (2026-01-01T00:00Z): the tree is fully deterministic
DAY = 86_400

# Shares of `size` (data bytes) per kind.
SHARE_SRC = 0.16
SHARE_MEDIA = 0.36
SHARE_VM = 0.24
SHARE_SQL = 0.24
VM_FILL = 0.40  # fraction of the VM image's apparent size that holds data

_ZERO = bytes(8 * MiB)


class Keystream:
    """Deterministic incompressible bytes: AES-256-CTR over zeros, keyed by (seed, label)."""

    def __init__(self, seed: int, label: str) -> None:
        key = random.Random(f"{seed}:{label}").randbytes(32)
        self._enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()

    def read(self, n: int) -> bytes:
        out = []
        while n > 0:
            k = min(n, len(_ZERO))
            out.append(self._enc.update(_ZERO[:k]))
            n -= k
        return b"".join(out)


@dataclass(frozen=True)
class Layout:
    """Sizes derived from the requested total; also used by the benchmark for MB/s."""

    size: int

    @property
    def src_bytes(self) -> int:
        return int(self.size * SHARE_SRC)

    @property
    def media_bytes(self) -> int:
        return int(self.size * SHARE_MEDIA)

    @property
    def vm_data(self) -> int:
        return int(self.size * SHARE_VM)

    @property
    def sql_bytes(self) -> int:
        return int(self.size * SHARE_SQL)

    @property
    def media_files(self) -> int:
        return max(2, round(self.media_bytes / (160 * MiB)))


class TextPool:
    """Source-like lines: a shared pool (repeats, like real code) plus unique hex literals."""

    WORDS = ("self", "return", "import", "def", "class", "if", "else", "for", "in", "not", "None",
             "value", "result", "config", "request", "response", "items", "index", "buffer", "error",
             "logger", "context", "handler", "client", "session", "await", "async", "yield", "with")

    def __init__(self, rng: random.Random, n: int = 12_000) -> None:
        self.rng = rng
        idents = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(4, 14)))
                  for _ in range(3000)]
        lines = []
        for _ in range(n):
            indent = "    " * rng.randint(0, 3)
            a, b, c = rng.choices(idents, k=3)
            w = rng.choice(self.WORDS)
            form = rng.randint(0, 5)
            if form == 0:
                lines.append(f"{indent}def {a}(self, {b}: int, {c}=None) -> {w.title()}:")
            elif form == 1:
                lines.append(f"{indent}{a} = {b}.{c}({w}, {rng.randint(0, 9999)})")
            elif form == 2:
                lines.append(f"{indent}if {a} is not None and {b}[{rng.randint(0, 64)}] > {c}:")
            elif form == 3:
                lines.append(f"{indent}# {w} the {a} before {b} so that {c} stays consistent")
            elif form == 4:
                lines.append(f"{indent}return {w}({a}, key={b!r}, default={c})")
            else:
                lines.append("")
        self.lines = lines

    def text(self, nbytes: int) -> bytes:
        rng = self.rng
        out: list[str] = []
        total = 0
        while total < nbytes:
            block = rng.choices(self.lines, k=32)
            block.append(f"    DIGEST_{rng.randint(0, 1 << 30)} = 0x{rng.randbytes(16).hex()}")
            s = "\n".join(block) + "\n"
            out.append(s)
            total += len(s)
        return "".join(out).encode()[:nbytes]


def _small_size(rng: random.Random) -> int:
    """Small-file sizes: log-uniform 512 B .. 64 KiB (mean ~12 KiB)."""
    return int(2 ** rng.uniform(9, 16))


def _write(path: Path, data: bytes, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def _sql_rows(rng: random.Random, start_id: int, nbytes: int) -> bytes:
    """pg_dump-like COPY rows (tab separated) totalling about `nbytes`."""
    names = [f"customer_{rng.randint(0, 10**6):06d}" for _ in range(5000)]
    notes = ["", "gift wrap", "express", "call before delivery", "fragile",
             "leave at door", "back order", "priority customer", "\\N"]
    out: list[str] = []
    total = 0
    i = start_id
    while total < nbytes:
        batch = [
            f"{i + k}\t{names[rng.randrange(5000)]}\tSKU-{rng.randrange(100000):05d}\t"
            f"{rng.randint(1, 20)}\t{rng.randint(100, 99999) / 100:.2f}\t"
            f"2026-01-{1 + (i + k) % 28:02d} {((i + k) // 60) % 24:02d}:{(i + k) % 60:02d}:00+00\t"
            f"{notes[rng.randrange(len(notes))]}\n"
            for k in range(2000)
        ]
        s = "".join(batch)
        out.append(s)
        total += len(s)
        i += 2000
    return "".join(out).encode()


SQL_HEADER = (
    b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n\n"
    b"CREATE TABLE public.orders (\n    id bigint NOT NULL,\n    customer text NOT NULL,\n"
    b"    sku text NOT NULL,\n    qty integer NOT NULL,\n    price numeric(10,2) NOT NULL,\n"
    b"    created_at timestamp with time zone NOT NULL,\n    note text\n);\n\n"
    b"COPY public.orders (id, customer, sku, qty, price, created_at, note) FROM stdin;\n"
)
SQL_FOOTER = b"\\.\n\nALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);\n"


def _vm_extents(seed: int, layout: Layout) -> Iterator[tuple[int, int, str]]:
    """(offset, length, kind) of the VM image's data extents; holes lie between them."""
    rng = random.Random(f"{seed}:vm-layout")
    apparent = int(layout.vm_data / VM_FILL)
    written = 0
    offset = 0
    while written < layout.vm_data:
        length = min(rng.choice((64, 256, 1024, 4096)) * 1024, layout.vm_data - written)
        gap = int(length * (1 / VM_FILL - 1) * rng.uniform(0.5, 1.5)) // 4096 * 4096
        offset += gap
        if offset + length > apparent:
            offset = max(0, apparent - length)
        yield offset, length, rng.choice(("random", "text", "text"))
        offset += length
        written += length


def generate(root: Path, size: int, seed: int = 42) -> Layout:
    """Create the day-1 tree under `root` (wiped first). Returns the layout."""
    layout = Layout(size)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = random.Random(seed)
    pool = TextPool(random.Random(f"{seed}:pool"))

    written, n = 0, 0
    while written < layout.src_bytes:
        sz = _small_size(rng)
        path = root / "src" / f"pkg{n // 2000:02d}" / f"mod{(n // 100) % 20:02d}" / f"file{n:05d}.py"
        _write(path, pool.text(sz), T0)
        written += sz
        n += 1

    per = layout.media_bytes // layout.media_files
    for i in range(layout.media_files):
        _write_stream(root / "media" / f"video{i:02d}.bin", Keystream(seed, f"media{i}"), per, T0)

    vm = root / "vm" / "disk.img"
    vm.parent.mkdir(parents=True)
    ks, trng = Keystream(seed, "vm"), random.Random(f"{seed}:vm-text")
    vpool = TextPool(trng, n=2000)
    with open(vm, "wb") as f:
        f.truncate(int(layout.vm_data / VM_FILL))
        for offset, length, kind in _vm_extents(seed, layout):
            f.seek(offset)
            f.write(ks.read(length) if kind == "random" else vpool.text(length))
    os.utime(vm, (T0, T0))

    sql = root / "db" / "dump.sql"
    sql.parent.mkdir(parents=True)
    with open(sql, "wb") as f:
        f.write(SQL_HEADER)
        srng, done, row = random.Random(f"{seed}:sql"), 0, 1
        while done < layout.sql_bytes:
            rows = _sql_rows(srng, row, min(32 * MiB, layout.sql_bytes - done))
            f.write(rows)
            done += len(rows)
            row += rows.count(b"\n")
        f.write(SQL_FOOTER)
    os.utime(sql, (T0, T0))
    return layout


def _write_stream(path: Path, ks: Keystream, nbytes: int, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for off in range(0, nbytes, 8 * MiB):
            f.write(ks.read(min(8 * MiB, nbytes - off)))
    os.utime(path, (mtime, mtime))


def mutate(root: Path, layout: Layout, seed: int = 42) -> int:
    """Apply the "next day" change in place; returns the number of new/changed data bytes."""
    rng = random.Random(f"{seed}:day2")
    pool = TextPool(random.Random(f"{seed}:pool2"))
    t1 = T0 + DAY
    changed = 0
    files = sorted((root / "src").rglob("*.py"))
    picks = rng.sample(files, k=max(3, len(files) * 5 // 100))
    edit, delete = picks[: len(picks) * 3 // 5], picks[len(picks) * 3 // 5:]
    for path in edit:  # rewrite a few lines in the middle of the file
        data = path.read_bytes()
        cut = len(data) // 2
        patch = pool.text(min(2048, max(64, len(data) // 10)))
        _write(path, data[:cut] + patch + data[cut + len(patch) // 2:], t1)
        changed += len(patch)
    for path in delete:
        path.unlink()
    for i in range(len(delete) * 2):  # new files, in new and existing directories
        sz = _small_size(rng)
        _write(root / "src" / f"pkg{i % 3:02d}" / "new" / f"added{i:04d}.py", pool.text(sz), t1)
        changed += sz

    # Rows inserted 1 MiB into the SQL dump (all later bytes shift) and rows appended at the end.
    sql = root / "db" / "dump.sql"
    data = sql.read_bytes()
    at = data.index(b"\n", MiB) + 1
    srng = random.Random(f"{seed}:sql2")
    inserted = _sql_rows(srng, 50_000_000, 64 * 1024)
    appended = _sql_rows(srng, 60_000_000, int(layout.size * 0.01))
    body_end = data.rindex(SQL_FOOTER)
    tmp = sql.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data[:at])
        f.write(inserted)
        f.write(data[at:body_end])
        f.write(appended)
        f.write(SQL_FOOTER)
    os.replace(tmp, sql)
    os.utime(sql, (t1, t1))
    changed += len(inserted) + len(appended)

    # A region of the VM image rewritten in place (a guest updated some blocks).
    vm = root / "vm" / "disk.img"
    extents = list(_vm_extents(seed, layout))
    region = int(layout.size * 0.02)
    start = extents[len(extents) // 3][0]
    with open(vm, "r+b") as f:
        f.seek(start)
        f.write(Keystream(seed, "vm-day2").read(region))
    os.utime(vm, (t1, t1))
    changed += region

    _write_stream(root / "media" / "new-recording.bin", Keystream(seed, "media-new"),
                  int(layout.size * 0.01), t1)
    changed += int(layout.size * 0.01)
    return changed


def prepare(root: Path, size: int, seed: int = 42, cache: Path | None = None) -> Layout:
    """Day-1 tree at `root`. With `cache`, the generated tree is kept there (keyed by size, seed
    and this file's content) and copied (holes kept) on later runs instead of regenerated."""
    if cache is None:
        return generate(root, size, seed)
    stamp_text = f"{size}:{seed}:{hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}"
    pristine, stamp = cache / "tree", cache / "stamp"
    if not (stamp.exists() and stamp.read_text() == stamp_text):
        stamp.unlink(missing_ok=True)
        generate(pristine, size, seed)
        stamp.write_text(stamp_text)
    if root.exists():
        shutil.rmtree(root)
    subprocess.run(["cp", "-a", "--sparse=always", str(pristine), str(root)], check=True)
    return Layout(size)


def tree_size(root: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes) of a tree."""
    files = apparent = allocated = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            files += 1
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return files, apparent, allocated


def parse_size(text: str) -> int:
    units = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": MiB, "mib": MiB, "mb": 10**6,
             "g": GiB, "gib": GiB, "gb": 10**9, "kb": 1000}
    t = text.strip().lower()
    num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(num):]
    if unit not in units:
        raise argparse.ArgumentTypeError(f"unknown size unit in {text!r}")
    return int(float(num) * units[unit])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path)
    p.add_argument("--size", type=parse_size, default=parse_size("1.5GiB"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--mutate", action="store_true", help="apply the next-day change to an existing tree")
    a = p.parse_args(argv)
    layout = Layout(a.size)
    if a.mutate:
        print(f"changed {mutate(a.root, layout, a.seed) / MiB:.1f} MiB")
    else:
        generate(a.root, a.size, a.seed)
    files, apparent, allocated = tree_size(a.root)
    print(f"{files} files, {apparent / MiB:.0f} MiB apparent, {allocated / MiB:.0f} MiB allocated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
