"""Replication throughput: `dro replicate` vs `rclone copy`, same objects, same run.

    .venv/bin/python bench/replicate.py [--small 20000] [--packs 64] [--pack-mib 16] [--skip-s3] [--skip-dir]

Dataset: a synthetic repository with the real layout and content-addressed names
(config, a key slot, `--packs` packs of `--pack-mib` MiB, `--small` small objects of
512 B - 64 KiB log-uniform: small packs 80 %, index 15 %, snapshots 5 %), random
(incompressible) bytes: by default 20,066 objects, ~1.26 GiB. Then:

1. dir → dir: `rclone copy` vs `dro replicate --from file://… --to file://…`, the full copy
   `--full-repeats` times (default 2) with the tools' order alternating (every timed run
   of either tool starts with the whole source read into the page cache, since rclone
   drops what it read from it; `rclone + sync` is also given since dro's copy ends
   durable; rclone's dirty data is synced before dro starts, so dro's syncfs does not
   write it back), the incremental run
   (+1 % new objects) `--inc-repeats` times (default 3, order alternating), then three
   alternating reruns with nothing new; medians for each. dro's listing cache lives in
   the work directory and starts empty; the objects the incremental runs add to the
   source and the copies are removed again at the end (ext4 allocates inodes slowly for
   minutes after mass deletions: leftovers of a stopped run are removed first and the
   window waited out);
2. S3 → S3 on a dedicated moto_server (port `--moto-port`, started and stopped here so
   the shared test server is not loaded): bucket in us-east-1 → bucket in eu-west-1.
   Both tools copy server-side. dro is run with `--verify checksum` (like rclone: sizes +
   provider checksums) and with its default `--verify content` (every copy read back and
   BLAKE3-checked);
3. each again after 1 % new objects (the incremental run).

Each full dir → dir round also reports where the time went: the CPU time of each tool
(with dro's copy helpers), the machine's steal / iowait / idle time during it, and the
*disk floor* — the same number of bytes written with O_DIRECT into one file and synced,
timed right after the round: a reference for what making these bytes durable costs here.

With `DRO_BENCH_DIR` on a tmpfs (e.g. /dev/shm/dro-bench-replicate) the whole dir → dir part
runs in memory: neither tool pays for durability there (dro's syncfs has nothing to write), so
the full copy compares the two tools' own work, apart from the disk. No disk floor is taken
there, and each full round's copies but the last (the incremental runs' targets) are removed
right after it (they live in RAM; tmpfs has no inode-reuse window to wait out).

Both tools get the same parallelism (rclone --transfers 8 --checkers 16, dro --workers 8).
rclone runs with AWS_CA_BUNDLE unset (its S3 backend fails on it even over http).
Prints a Markdown table (each row also to stderr as soon as it is measured, with the load
average when its step began); times are wall clock including process start.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import NamedTuple

import blake3

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("DRO_BENCH_DIR", "/tmp/dro-bench-replicate"))
MiB = 1 << 20
# The `dro` a user runs: the console script `pip install` writes (`python -m` would also
# load runpy, ~2 ms of each run).
DRO = [str(ROOT / ".venv" / "bin" / "dro")]


def write_obj(root: Path, key: str, data: bytes) -> None:
    p = root / key
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def obj_key(kind: str, data: bytes) -> str:
    h = blake3.blake3(data).hexdigest()
    return f"data/{h[:2]}/{h}" if kind == "data" else f"{kind}/{h}"


def make_dataset(root: Path, small: int, packs: int, pack_mib: int, seed: int = 1) -> tuple[int, int]:
    """Returns (objects, bytes). Reused when already built with the same parameters."""
    marker = root / f".complete-{small}-{packs}-{pack_mib}-{seed}"
    if marker.exists():
        n, b = map(int, marker.read_text().split())
        return n, b
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(seed)
    write_obj(root, "config", json.dumps({"format": "dro-repository", "version": 1,
                                          "id": uuid.UUID(int=seed).hex}).encode())
    write_obj(root, f"keys/{rng.randbytes(16).hex()}", rng.randbytes(300))
    n, total = 2, 0
    for _ in range(packs):
        data = rng.randbytes(pack_mib * MiB)
        write_obj(root, obj_key("data", data), data)
        n, total = n + 1, total + len(data)
    n2, b2 = add_small(root, small, rng)
    marker.write_text(f"{n + n2} {total + b2}")
    return n + n2, total + b2


def add_small(root: Path, count: int, rng: random.Random, keys: list[str] | None = None) -> tuple[int, int]:
    total = 0
    for i in range(count):
        size = int(math.exp(rng.uniform(math.log(512), math.log(64 * 1024))))
        data = rng.randbytes(size)
        kind = "data" if i % 20 < 16 else ("index" if i % 20 < 19 else "snapshots")
        key = obj_key(kind, data)
        write_obj(root, key, data)
        if keys is not None:
            keys.append(key)
        total += size
    return count, total


class Usage(NamedTuple):
    """Where a run's time went: `cpu` is the user + system time of the tool and every
    process it waited for (dro's copy helpers); the rest is the whole machine's, from
    /proc/stat. `steal`: time the hypervisor took from this VM's CPUs while they had work
    — on this VM the host's own I/O work for our writes shows up there."""

    cpu: float
    steal: float
    iowait: float
    idle: float


def _cpu_times() -> list[int]:
    with open("/proc/stat") as f:  # cpu user nice system idle iowait irq softirq steal …
        return [int(x) for x in f.readline().split()[1:9]]


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str, Usage]:
    ticks = os.sysconf("SC_CLK_TCK")
    r0, s0, t = resource.getrusage(resource.RUSAGE_CHILDREN), _cpu_times(), time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.monotonic() - t
    r1, s1 = resource.getrusage(resource.RUSAGE_CHILDREN), _cpu_times()
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    machine = [(b - a) / ticks for a, b in zip(s0, s1, strict=True)]
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    return dt, r.stdout, Usage(cpu, steal=machine[7], iowait=machine[4], idle=machine[3])


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    dt, out, _ = measured(cmd, env)
    return dt, out


def disk_floor(nbytes: int) -> float:
    """Seconds to make `nbytes` of fresh data durable on the bench's file system with no
    copying at all: one file written with O_DIRECT in 4 MiB writes, then syncfs — what
    the disk alone needs for these bytes in one sequential stream: a reference for what
    ending durable costs here (a copy also writes 20,000 files' metadata). The host behind
    this VM's disk takes writes into its cache and persists them on a flush, or by itself
    a few seconds later, at roughly 1 GB/s: bench/disk_flush.py."""
    import ctypes
    import mmap

    buf = mmap.mmap(-1, 4 * MiB)  # page-aligned, as O_DIRECT needs
    buf.write(os.urandom(4 * MiB))
    path = WORK / f"floor-{time.time_ns()}"
    os.sync()
    t = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_DIRECT", 0), 0o600)
    try:
        for i in range(-(-nbytes // (4 * MiB))):
            buf[:8] = i.to_bytes(8, "little")  # no two blocks alike
            os.write(fd, buf)
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            os.sync()
        return time.monotonic() - t
    finally:
        os.close(fd)
        path.unlink()


def rclone_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update({"RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Other",
                "RCLONE_CONFIG_S3_ENDPOINT": f"http://127.0.0.1:{port}", "RCLONE_CONFIG_S3_REGION": "us-east-1",
                "RCLONE_CONFIG_S3_ACCESS_KEY_ID": "testing", "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": "testing",
                "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true"})
    return env


def dro_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DRO_PASSWORD", "DRO_LISTING_CACHE", "DRO_NO_CACHE")}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "DRO_STATE_DIR": str(WORK / "state"), "XDG_CACHE_HOME": str(WORK / "cache")})
    return env


RCLONE_PAR = ["--transfers", "8", "--checkers", "16"]
# ext4 without a journal (as here) skips a free inode deleted less than 60 s ago, or 360 s
# once its inode table block is dirty again — which the next copy makes it at once.
SETTLE_S = 370


def dro_run(src: str, dst: str, *extra: str) -> tuple[float, dict]:
    dt, rep, _ = dro_measured(src, dst, *extra)
    return dt, rep


def dro_measured(src: str, dst: str, *extra: str) -> tuple[float, dict, Usage]:
    dt, out, usage = measured([*DRO, "replicate", "--from", src, "--to", dst, "--workers", "8", "--json", *extra],
                              env=dro_env())
    return dt, json.loads(out), usage


def row(rows: list[str], what: str, nobj: int, nbytes: int, t_rclone: float, t_dro: float, note: str = "") -> None:
    mibs = nbytes / MiB
    rows.append(f"| {what} | {nobj:,} | {mibs:,.0f} | {t_rclone:.1f} s ({mibs / t_rclone:,.0f} MiB/s) | "
                f"{t_dro:.1f} s ({mibs / t_dro:,.0f} MiB/s) | {t_rclone / t_dro:.2f}x | {note} |")
    print(rows[-1], file=sys.stderr, flush=True)  # a long run that is stopped keeps its rows


def count_dir(src: Path) -> tuple[int, int]:
    files = [p for p in src.rglob("*") if p.is_file() and not p.name.startswith(".complete")]
    return len(files), sum(p.stat().st_size for p in files)


def warm(src: Path) -> None:
    """Read every source file, so each timed run starts with the source in the page cache.
    rclone's local backend drops what it read from the cache (fadvise DONTNEED): without
    this, whichever tool ran after rclone read its source from the disk while writing,
    and in the alternating order that was always dro (found in session 5: the first dro
    run after rclone took ~2.5 s longer, whatever its settings)."""
    for root, _, files in os.walk(src):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                while f.read(1 << 20):
                    pass
    os.sync()  # reading may have updated access times (relatime: once a day): not for dro's syncfs


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def bench_dirs(src: Path, nobj: int, nbytes: int, rows: list[str], small_new: int, full_repeats: int = 2,
               inc_repeats: int = 3) -> None:
    """Full copy `full_repeats` times, the tools' order alternating (the machine's load
    drifts; each run starts with the source in the page cache: warm()), then the
    incremental run after 1 % new objects `inc_repeats` times, then three alternating
    no-change reruns. Medians of each."""
    nobj, nbytes = count_dir(src)  # earlier runs may have added their 1 %
    from dr_orchestrator.replication.listcache import fs_type  # the mountinfo lookup dro itself uses

    in_ram = fs_type(WORK.stat().st_dev) == "tmpfs"
    # Targets of earlier runs go first, and every copy writes into a directory of its own:
    # ext4 makes inode allocation slow (for both tools) after mass deletions. Without a
    # journal (as here) its allocator skips every free inode deleted less than 60 s ago
    # (360 s while the inode table block is dirty), looking each one up: a third of a full
    # copy's CPU samples in one perf profile taken 60 s after deleting a copy unsynced, and
    # a first rclone copy 4 min after a deletion took 12 s instead of 6. So the copies are
    # removed at the end of the run; leftovers of a stopped run are removed here, and then
    # the window is waited out.
    deleted = False
    for old in WORK.glob("dir-*"):
        deleted = True
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(WORK / "cache", ignore_errors=True)  # a few files: no window to wait out
    os.sync()
    if deleted and not in_ram:
        time.sleep(SETTLE_S)

    def rclone_measured(cmd: list[str]) -> tuple[float, float, Usage]:
        """(copy seconds, seconds of the sync after it, usage of the copy). The sync is not
        part of rclone's time; it runs so that dro's syncfs never writes back rclone's
        dirty pages."""
        warm(src)
        t_r, _, usage = measured(cmd, env=rclone_env(0))
        t_sync = time.monotonic()
        os.sync()
        return t_r, time.monotonic() - t_sync, usage

    def rclone_warm(cmd: list[str]) -> tuple[float, float]:
        t_r, t_sync, _ = rclone_measured(cmd)
        return t_r, t_sync

    def run_rclone(dst: Path) -> tuple[float, float, Usage]:
        return rclone_measured(["rclone", "copy", str(src), str(dst), *RCLONE_PAR])

    def run_dro(dst: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
        warm(src)
        return dro_run(f"file://{src}", f"file://{dst}")

    def run_dro_measured(dst: Path) -> tuple[float, dict, Usage]:  # type: ignore[type-arg]
        warm(src)
        return dro_measured(f"file://{src}", f"file://{dst}")

    ratios: list[float] = []
    durable: list[float] = []  # (rclone + sync) / dro: both tools' copies on disk when timed
    floors: list[float] = []
    cpu_r: list[float] = []
    cpu_d: list[float] = []
    for i in range(full_repeats):
        order = "rclone first" if i % 2 == 0 else "dro first"
        r_dst, d_dst = WORK / f"dir-rclone-{i}", WORK / f"dir-dro-{i}"
        before = load()
        if order == "rclone first":
            (t_r, t_sync, u_r), (t_d, rep, u_d) = run_rclone(r_dst), run_dro_measured(d_dst)
        else:
            (t_d, rep, u_d), (t_r, t_sync, u_r) = run_dro_measured(d_dst), run_rclone(r_dst)
        assert rep["ok"] and rep["counters"]["objects_copied"] == nobj, rep
        ratios.append(t_r / t_d)
        cpu_r.append(u_r.cpu)
        cpu_d.append(u_d.cpu)
        if in_ram:  # nothing to make durable: the copies only cost memory, free it now
            where = "tmpfs: neither tool pays for durability"
            if i < full_repeats - 1:  # the last round's copies are the incremental runs' targets
                shutil.rmtree(r_dst)
                shutil.rmtree(d_dst)
        else:
            floors.append(disk_floor(nbytes))  # after both: the disk as both tools just had it
            durable.append((t_r + t_sync) / t_d)
            where = (f"rclone + sync {t_r + t_sync:.1f} s, dro (durable: syncfs per phase) {durable[-1]:.2f}x "
                     f"as fast; disk floor {floors[-1]:.1f} s")
        row(rows, f"dir → dir, full ({order}; {before})", nobj, nbytes, t_r, t_d,
            f"{where}; CPU rclone {u_r.cpu:.1f} s, dro {u_d.cpu:.1f} s; during dro: steal "
            f"{u_d.steal:.1f} s, iowait {u_d.iowait:.1f} s, idle {u_d.idle:.1f} s (rclone: "
            f"{u_r.steal:.1f}, {u_r.iowait:.1f}, {u_r.idle:.1f})")
    if full_repeats > 2:
        rows.append(f"| dir → dir, full: median of {full_repeats} | | | | | {median(ratios):.2f}x | "
                    f"ratios {', '.join(f'{x:.2f}' for x in ratios)}; CPU median rclone {median(cpu_r):.1f} s, "
                    f"dro {median(cpu_d):.1f} s"
                    f"{f'; disk floor median {median(floors):.1f} s' if floors else '; tmpfs'}"
                    f"{f'; against rclone + sync median {median(durable):.2f}x' if durable else ''} |")
        print(rows[-1], file=sys.stderr, flush=True)
    added: list[str] = []
    times_r: list[float] = []
    times_d: list[float] = []
    for i in range(inc_repeats):
        n_new, b_new = add_small(src, small_new, random.Random(time.time_ns()), added)
        os.sync()  # a backup's objects are durable when it ends (LocalBackend fsyncs each)
        before = load()
        rclone = ["rclone", "copy", str(src), str(r_dst), *RCLONE_PAR]
        if i % 2 == 0:
            t_r2, _ = rclone_warm(rclone)
            t_d2, rep2 = run_dro(d_dst)
        else:
            t_d2, rep2 = run_dro(d_dst)
            t_r2, _ = rclone_warm(rclone)
        assert rep2["ok"] and rep2["counters"]["objects_copied"] == n_new, rep2
        times_r.append(t_r2)
        times_d.append(t_d2)
        row(rows, f"dir → dir, incremental (+{n_new} objects, {'rclone' if i % 2 == 0 else 'dro'} first; "
            f"{before})", n_new, b_new, t_r2, t_d2,
            f"both list {rep2['source_objects']:,} objects on each side; dro ran {rep2['seconds']:.2f} s "
            f"of it after start-up")
    med_r, med_d = median(times_r), median(times_d)
    rows.append(f"| dir → dir, incremental, median of {inc_repeats} | | | {med_r:.2f} s | {med_d:.2f} s | "
                f"{med_r / med_d:.2f}x | rclone {', '.join(f'{t:.2f}' for t in times_r)}; "
                f"dro {', '.join(f'{t:.2f}' for t in times_d)} |")
    print(rows[-1], file=sys.stderr, flush=True)
    times_r, times_d, inner = [], [], []
    before = load()
    for i in range(3):
        if i % 2 == 0:
            times_r.append(rclone_warm(rclone)[0])
        t, rep3 = run_dro(d_dst)
        if i % 2 == 1:
            times_r.append(rclone_warm(rclone)[0])
        assert rep3["counters"]["objects_copied"] == 0, rep3
        times_d.append(t)
        inner.append(rep3["seconds"])
    med_r, med_d = median(times_r), median(times_d)
    rows.append(f"| dir → dir, nothing new, median of 3 alternating ({before}) | 0 | 0 | {med_r:.2f} s | "
                f"{med_d:.2f} s | {med_r / med_d:.2f}x | rclone {', '.join(f'{t:.2f}' for t in times_r)}; "
                f"dro {', '.join(f'{t:.2f}' for t in times_d)} (after start-up: "
                f"{', '.join(f'{t:.2f}' for t in inner)}) |")
    print(rows[-1], file=sys.stderr, flush=True)
    for key in added:  # the next run starts from the same dataset
        (src / key).unlink(missing_ok=True)
    for old in [*WORK.glob("dir-*"), WORK / "cache"]:
        shutil.rmtree(old, ignore_errors=True)


def start_moto(port: int) -> subprocess.Popen[bytes]:
    log = open(WORK / "moto.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=log)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)  # noqa: S310
            break
        except OSError:
            time.sleep(0.05)
    if proc.poll() is not None:
        raise SystemExit(f"moto_server did not start on port {port}; see {WORK / 'moto.log'}")
    return proc


def bench_s3(src: Path, nobj: int, nbytes: int, rows: list[str], port: int, small_new: int) -> None:
    import boto3
    from botocore.config import Config

    proc = start_moto(port)
    try:
        def client(region: str):  # type: ignore[no-untyped-def]
            return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
                                aws_access_key_id="testing", aws_secret_access_key="testing",
                                config=Config(s3={"addressing_style": "path"}))
        east, west = client("us-east-1"), client("eu-west-1")
        east.create_bucket(Bucket="src")
        for b in ("rclone", "dro-checksum", "dro-content"):
            west.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

        def url(bucket: str, region: str) -> str:
            return f"s3://{bucket}?endpoint=http://127.0.0.1:{port}&region={region}"

        t_up, rep = dro_run(f"file://{src}", url("src", "us-east-1"))
        rows.append(f"| (setup) dir → S3 upload by dro | {nobj:,} | {nbytes / MiB:,.0f} | - | {t_up:.1f} s "
                    f"({nbytes / MiB / t_up:,.0f} MiB/s) | - | streamed, BLAKE3-checked |")
        print(rows[-1], file=sys.stderr, flush=True)
        rc = ["rclone", "copy", "s3:src", "s3:rclone", *RCLONE_PAR]
        before = load()
        t_r, _ = timed(rc, env=rclone_env(port))
        t_c, rep_c = dro_run(url("src", "us-east-1"), url("dro-checksum", "eu-west-1"), "--verify", "checksum")
        assert rep_c["ok"] and rep_c["counters"]["bytes_streamed"] == 0, rep_c
        row(rows, f"S3 us-east-1 → eu-west-1, full (dro --verify checksum; {before})", nobj, nbytes, t_r, t_c,
            "both server-side; dro streamed 0 bytes")
        before = load()
        t_v, rep_v = dro_run(url("src", "us-east-1"), url("dro-content", "eu-west-1"))
        assert rep_v["ok"], rep_v
        row(rows, f"S3 us-east-1 → eu-west-1, full (dro default --verify content; {before})", nobj, nbytes,
            t_r, t_v,
            f"dro read back {rep_v['counters']['bytes_verify_read'] / MiB:,.0f} MiB to check BLAKE3")
        # 1 % new objects at the source
        new_dir = WORK / "s3-new"
        shutil.rmtree(new_dir, ignore_errors=True)
        n_new, b_new = add_small(new_dir, small_new, random.Random(time.time_ns()))
        for p in new_dir.rglob("*"):
            if p.is_file():
                east.put_object(Bucket="src", Key=p.relative_to(new_dir).as_posix(), Body=p.read_bytes())
        before = load()
        t_r2, _ = timed(rc, env=rclone_env(port))
        t_c2, rep_c2 = dro_run(url("src", "us-east-1"), url("dro-checksum", "eu-west-1"), "--verify", "checksum")
        assert rep_c2["counters"]["objects_copied"] == n_new, rep_c2
        row(rows, f"S3 → S3, incremental (+{n_new} objects, dro --verify checksum; {before})", n_new, b_new,
            t_r2, t_c2)
        t_v2, rep_v2 = dro_run(url("src", "us-east-1"), url("dro-content", "eu-west-1"))
        assert rep_v2["counters"]["objects_copied"] == n_new, rep_v2
        row(rows, f"S3 → S3, incremental (+{n_new} objects, dro default)", n_new, b_new, t_r2, t_v2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


class _MemBackend:
    """Listing-only in-memory backend: measures the diff itself, without any provider."""

    def __init__(self, infos: list) -> None:  # type: ignore[type-arg]
        from dr_orchestrator.storage.base import Capabilities

        self.url = "mem://bench"
        self.capabilities = Capabilities()
        self.infos = sorted(infos, key=lambda i: i.key)
        self.keys = [i.key for i in self.infos]

    def list(self, prefix: str = ""):  # type: ignore[no-untyped-def]
        import bisect

        lo = bisect.bisect_left(self.keys, prefix)
        hi = bisect.bisect_left(self.keys, prefix + "\uffff")
        return iter(self.infos[lo:hi])

    def stat(self, key: str):  # type: ignore[no-untyped-def]
        for i in self.infos:
            if i.key == key:
                return i
        from dr_orchestrator.errors import ObjectNotFound
        raise ObjectNotFound(key)

    def get(self, key: str) -> bytes:
        return b'{"id": "bench"}'

    def put(self, key: str, data: bytes, **kw: object) -> None:
        raise AssertionError("a dry run writes nothing")


def bench_diff(n: int) -> str:
    """Time of a dry run (list both sides + diff) over n objects, 1 % missing at the target."""
    from dr_orchestrator.replication.options import Options
    from dr_orchestrator.replication.replicator import Replicator
    from dr_orchestrator.storage.base import ObjectInfo

    rng = random.Random(3)
    keys = ["config"] + [obj_key("data" if i % 10 else "index", rng.randbytes(8)) for i in range(n)]
    src = [ObjectInfo(k, 1000) for k in keys]
    dst = [i for j, i in enumerate(src) if j % 100]
    t = time.monotonic()
    rep = Replicator(_MemBackend(src), _MemBackend(dst), Options(dry_run=True)).run()  # type: ignore[arg-type]
    dt = time.monotonic() - t
    return f"diff of {n:,} objects ({rep.to_copy:,} missing at the target): {dt:.2f} s"


def bench_s3_incremental(port: int, small_new: int) -> list[str]:
    """Incremental runs against buckets a previous (interrupted) run left on the bench moto."""
    import boto3
    from botocore.config import Config

    east = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(s3={"addressing_style": "path"}))
    rows: list[str] = []
    new_dir = WORK / "s3-new"
    shutil.rmtree(new_dir, ignore_errors=True)
    n_new, b_new = add_small(new_dir, small_new, random.Random(time.time_ns()))
    for p in new_dir.rglob("*"):
        if p.is_file():
            east.put_object(Bucket="src", Key=p.relative_to(new_dir).as_posix(), Body=p.read_bytes())

    def url(bucket: str, region: str) -> str:
        return f"s3://{bucket}?endpoint=http://127.0.0.1:{port}&region={region}"

    t_r, _ = timed(["rclone", "copy", "s3:src", "s3:rclone", *RCLONE_PAR], env=rclone_env(port))
    t_d, rep = dro_run(url("src", "us-east-1"), url("dro-checksum", "eu-west-1"))
    assert rep["counters"]["objects_copied"] == n_new, rep
    row(rows, f"S3 → S3, incremental (+{n_new} objects; dro default --verify content)", n_new, b_new, t_r, t_d,
        f"listing {rep['source_objects']:,} + {rep['target_objects_before']:,} objects")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=20_000)
    ap.add_argument("--packs", type=int, default=64)
    ap.add_argument("--pack-mib", type=int, default=16)
    ap.add_argument("--moto-port", type=int, default=5100)
    ap.add_argument("--skip-s3", action="store_true")
    ap.add_argument("--skip-dir", action="store_true")
    ap.add_argument("--full-repeats", type=int, default=2, help="dir → dir full copies (order alternating)")
    ap.add_argument("--inc-repeats", type=int, default=3, help="dir → dir incremental runs (+1 %% each)")
    ap.add_argument("--diff-only", type=int, default=0, help="only time the diff of N in-memory objects")
    ap.add_argument("--s3-incremental-only", action="store_true",
                    help="only the incremental S3 runs, on buckets left on --moto-port by a previous run")
    args = ap.parse_args()
    if args.diff_only:
        print(bench_diff(args.diff_only))
        return
    if args.s3_incremental_only:
        print("\n".join(bench_s3_incremental(args.moto_port, max(1, (args.small + args.packs + 2) // 100))))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    # Bytecode compiled first: with PYTHONDONTWRITEBYTECODE set (as in some shells here),
    # every dro process would compile the modules changed since the last compile.
    compileall.compile_dir(str(ROOT / "dr_orchestrator"), quiet=1)
    src = WORK / "src"
    t = time.monotonic()
    nobj, nbytes = make_dataset(src, args.small, args.packs, args.pack_mib)
    print(f"dataset: {nobj:,} objects, {nbytes / MiB:,.0f} MiB ({time.monotonic() - t:.0f} s)", file=sys.stderr)
    small_new = max(1, nobj // 100)
    rows = ["| run | objects | MiB | rclone copy | dro replicate | dro speed-up | notes |",
            "|---|---:|---:|---:|---:|---:|---|"]
    if not args.skip_dir:
        bench_dirs(src, nobj, nbytes, rows, small_new, args.full_repeats, args.inc_repeats)
        print("\n".join(rows), file=sys.stderr)
    if not args.skip_s3:
        current, size = count_dir(src)
        bench_s3(src, current, size, rows, args.moto_port, small_new)
    print("\n".join(rows))
    print("\n" + bench_diff(100_000))


if __name__ == "__main__":
    main()
