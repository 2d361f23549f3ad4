"""How this machine's disk makes writes durable: what a copy that ends on disk has to wait for.

    .venv/bin/python bench/disk_flush.py [--mib 1024] [--pauses 0 2 5 10] [--dir /tmp]

For each pause: write --mib MiB of fresh random data into a new file with O_DIRECT (4 MiB
writes, straight to the device, no page cache), wait `pause` seconds, then time syncfs()
(which, with nothing dirty in the page cache, is the device's cache flush). Also reports
the machine's steal time during the writes (/proc/stat). The file is removed after each
step. The figures behind the "disk floor" reading in BENCHMARKS.md (replication): on the
VM the benchmarks run on, the host took writes at 0.5–2 GB/s but persisted them only on a
flush (or a few seconds later by itself), at ~1 GB/s.
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import time
from pathlib import Path

MiB = 1 << 20
BLOCK = 4 * MiB


def cpu_steal() -> float:
    with open("/proc/stat") as f:  # cpu user nice system idle iowait irq softirq steal
        return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")


def step(directory: Path, mib: int, pause: float, buf: mmap.mmap) -> str:
    syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    path = directory / f"dro-disk-flush-{os.getpid()}-{time.time_ns()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_DIRECT", 0), 0o600)
    try:
        steal, t0 = cpu_steal(), time.monotonic()
        for i in range(-(-mib * MiB // BLOCK)):
            buf[:16] = i.to_bytes(8, "little") + time.time_ns().to_bytes(8, "little")  # no two blocks alike
            os.write(fd, buf)
        t1, stolen = time.monotonic(), cpu_steal() - steal
        time.sleep(pause)
        t2 = time.monotonic()
        if syncfs(fd) != 0:
            os.sync()
        t3 = time.monotonic()
    finally:
        os.close(fd)
        path.unlink()
    os.sync()  # the unlink, so the next step starts clean
    return (f"| {mib:,} | {t1 - t0:.2f} s ({mib / (t1 - t0):,.0f} MiB/s) | {stolen:.2f} s | {pause:g} s | "
            f"{t3 - t2:.2f} s |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--pauses", type=float, nargs="+", default=[0, 2, 5, 10, 0])
    ap.add_argument("--dir", type=Path, default=Path(os.environ.get("DRO_BENCH_DIR", "/tmp")))
    args = ap.parse_args()
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT needs
    buf.write(os.urandom(BLOCK))
    print("| MiB written (O_DIRECT) | write time | steal during it | pause | syncfs after the pause |")
    print("|---:|---:|---:|---:|---:|")
    for pause in args.pauses:
        print(step(args.dir, args.mib, pause, buf), flush=True)
        time.sleep(3)


if __name__ == "__main__":
    main()
