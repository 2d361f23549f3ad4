"""Backup benchmark: dro vs restic side by side in one run, on a deterministic dataset.

    python bench/backup.py --size 1.5GiB --work bench/.work        (what `make bench` runs)
    python bench/backup.py --quick                                   (~200 MB smoke run)

Operations, each timed for both tools on a local repository, with the page cache dropped
before each timed operation when we may (root): initial backup, incremental backup after
the "next day" mutation (bench/dataset.py), no-change backup, full restore, verify
--read-data (restic check --read-data). Also repository size and peak RSS (ru_maxrss of
the tool's process, read through os.wait4). MB/s is always the dataset's logical size
(apparent bytes, holes included) over the seconds, so rows compare across tools; the ratio
is restic seconds / dro seconds (> 1: dro is faster) and for size/RSS dro / restic.
Restores are checked byte-for-byte (BLAKE3 of every file) against the source.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import blake3

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402  (bench/ is not a package)

PASSWORD = "bench-password-not-secret"  # noqa: S105 - throwaway benchmark repositories
MB = 1e6
SECTION_BEGIN = "<!-- bench/backup.py:begin -->"
SECTION_END = "<!-- bench/backup.py:end -->"
ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Backup repository: dro vs restic (bench/backup.py)"


@dataclass
class Measure:
    seconds: float
    maxrss_mb: float
    cpu_s: float


@dataclass
class ToolResult:
    ops: dict[str, Measure] = field(default_factory=dict)
    repo_bytes: int = 0
    restore_ok: bool | None = None


def drop_caches() -> bool:
    """sync + drop the page cache (root only); False when not allowed."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


# Runs the tool from a tiny interpreter: Linux carries a process's peak RSS across fork+exec, so a
# tool forked straight from this (large) process would report at least our own RSS as its peak.
_LAUNCHER = r"""
import json, os, sys, time
out = open(sys.argv[1], "w")
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_pid, status, ru = os.wait4(pid, 0)
json.dump({"seconds": time.perf_counter() - start, "code": os.waitstatus_to_exitcode(status),
           "maxrss_kb": ru.ru_maxrss, "cpu_s": ru.ru_utime + ru.ru_stime}, out)
"""


def run(cmd: list[str], env: dict[str, str], log: Path) -> Measure:
    """Run one tool command; time it and read its peak RSS and CPU time from wait4."""
    exe = shutil.which(cmd[0]) or cmd[0]
    stats = log.with_suffix(".rusage.json")
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(stats), exe, *cmd[1:]],
                              env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              check=False)
    m = json.loads(stats.read_text()) if proc.returncode == 0 else {"code": proc.returncode}
    if m["code"] != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"command failed ({m['code']}): {' '.join(cmd)}\n{tail}")
    return Measure(m["seconds"], m["maxrss_kb"] / 1024, m["cpu_s"])


def dir_bytes(path: Path) -> int:
    """Allocated size of a repository directory (what it costs on disk)."""
    return sum(os.lstat(os.path.join(d, n)).st_size for d, _s, names in os.walk(path) for n in names)


class Tool:
    name = "?"

    def __init__(self, work: Path) -> None:
        self.work = work
        self.repo = work / f"{self.name}-repo"
        self.log = work / f"{self.name}.log"
        self.env = dict(os.environ)

    def init(self) -> None: ...
    def backup(self, data: Path) -> list[str]: raise NotImplementedError
    def restore(self, target: Path) -> list[str]: raise NotImplementedError
    def verify(self) -> list[str]: raise NotImplementedError

    def restored_root(self, target: Path, data: Path) -> Path:
        """Where the data directory lands inside a restore target."""
        return target / data.relative_to("/")


class Restic(Tool):
    name = "restic"

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.env.update(RESTIC_PASSWORD=PASSWORD, RESTIC_CACHE_DIR=str(work / "restic-cache"),
                        RESTIC_REPOSITORY=str(self.repo))
        self.exe = shutil.which("restic") or "/usr/bin/restic"

    def init(self) -> None:
        run([self.exe, "init", "--repository-version", "2"], self.env, self.log)

    def backup(self, data: Path) -> list[str]:
        return [self.exe, "backup", "--host", "bench", str(data)]

    def restore(self, target: Path) -> list[str]:
        return [self.exe, "restore", "latest", "--target", str(target)]

    def verify(self) -> list[str]:
        return [self.exe, "check", "--read-data"]

    def version(self) -> str:
        return subprocess.run([self.exe, "version"], capture_output=True, text=True,
                              check=False).stdout.strip()


class Dro(Tool):
    name = "dro"

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.env.update(DRO_PASSWORD=PASSWORD)
        self.exe = [sys.executable, "-m", "dr_orchestrator.cli.main"]
        self.url = f"file://{self.repo}"

    def init(self) -> None:
        run([*self.exe, "repo", "init", self.url], self.env, self.log)

    def backup(self, data: Path) -> list[str]:
        return [*self.exe, "backup", "--repo", self.url, "--host", "bench", str(data)]

    def restore(self, target: Path) -> list[str]:
        return [*self.exe, "restore", "latest", "--repo", self.url, "--target", str(target)]

    def verify(self) -> list[str]:
        return [*self.exe, "verify", "--repo", self.url, "--read-data"]


def manifest(root: Path) -> dict[str, str]:
    """Relative path -> BLAKE3 of the content (symlinks by target) of every file in a tree."""
    out: dict[str, str] = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
                continue
            h = blake3.blake3()
            with open(p, "rb") as f:
                while block := f.read(8 << 20):
                    h.update(block)
            out[rel] = h.hexdigest()
    return out


def timed(tool: Tool, op: str, cmd: list[str], res: ToolResult, cold: bool) -> None:
    if cold:
        drop_caches()
    m = run(cmd, tool.env, tool.log)
    res.ops[op] = m
    print(f"  {tool.name:7s} {op:18s} {m.seconds:7.2f} s  rss {m.maxrss_mb:6.0f} MB  cpu {m.cpu_s:6.1f} s",
          flush=True)


def bench(args: argparse.Namespace) -> tuple[dict[str, ToolResult], dict[str, object]]:
    work: Path = args.work
    data = work / "data"
    for stale in ("dro-repo", "restic-repo", "restic-cache", "restore", "dro.log", "restic.log"):
        p = work / stale
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    cache = None if args.no_cache else work / f"dataset-{args.size}-{args.seed}"
    layout = dataset.prepare(data, args.size, args.seed, cache)
    files, apparent, allocated = dataset.tree_size(data)
    print(f"dataset: {files} files, {apparent / MB:.0f} MB apparent, {allocated / MB:.0f} MB allocated "
          f"(ready in {time.perf_counter() - t:.0f} s)", flush=True)

    load_start = os.getloadavg()[0]
    tools: list[Tool] = [cls(work) for cls in (Dro, Restic) if cls.name in args.tools]
    results = {tool.name: ToolResult() for tool in tools}
    cold = not args.warm
    if cold and not drop_caches():
        print("note: cannot drop the page cache (not root); timings are warm-cache", flush=True)
        cold = False
    for tool in tools:
        tool.init()

    for tool in tools:
        timed(tool, "initial backup", tool.backup(data), results[tool.name], cold)
    changed = dataset.mutate(data, layout, args.seed)
    print(f"mutation: {changed / MB:.0f} MB new or changed", flush=True)
    for tool in tools:
        timed(tool, "incremental backup", tool.backup(data), results[tool.name], cold)
    for tool in tools:
        timed(tool, "no-change backup", tool.backup(data), results[tool.name], cold)

    expected = manifest(data) if args.check else {}
    for tool in tools:
        target = work / "restore" / tool.name
        timed(tool, "full restore", tool.restore(target), results[tool.name], cold)
        if args.check:
            got = manifest(tool.restored_root(target, data))
            results[tool.name].restore_ok = got == expected
            if got != expected:
                diff = sorted(set(got.items()) ^ set(expected.items()))[:5]
                print(f"  {tool.name}: RESTORE DIFFERS from the source, e.g. {diff}", flush=True)
        shutil.rmtree(target)
    for tool in tools:
        timed(tool, "verify --read-data", tool.verify(), results[tool.name], cold)
    for tool in tools:
        results[tool.name].repo_bytes = dir_bytes(tool.repo)
    info = {"files": files, "apparent_bytes": apparent, "allocated_bytes": allocated,
            "changed_bytes": changed, "cold_cache": cold, "size_arg": args.size, "seed": args.seed,
            "cpus": os.cpu_count(),
            "load": [round(load_start, 1), round(os.getloadavg()[0], 1)],
            "restic": Restic(work).version() if "restic" in args.tools else None}
    return results, info


OPS = ("initial backup", "incremental backup", "no-change backup", "full restore", "verify --read-data")


def table(results: dict[str, ToolResult], info: dict[str, object]) -> str:
    size = float(info["apparent_bytes"])  # type: ignore[arg-type]
    d, r = results.get("dro"), results.get("restic")

    def cell(x: float | None, fmt: str) -> str:
        return "–" if x is None else format(x, fmt)

    rows = ["| op | dro s | restic s | dro MB/s | restic MB/s | ratio (restic s / dro s) |",
            "|---|---:|---:|---:|---:|---:|"]
    for op in OPS:
        ds = d.ops[op].seconds if d and op in d.ops else None
        rs = r.ops[op].seconds if r and op in r.ops else None
        ratio = rs / ds if ds and rs else None
        rows.append(f"| {op} | {cell(ds, '.2f')} | {cell(rs, '.2f')} | "
                    f"{cell(size / MB / ds if ds else None, '.0f')} | "
                    f"{cell(size / MB / rs if rs else None, '.0f')} | {cell(ratio, '.2f')}x |")
    rows.append("")
    rows.append("| measure | dro | restic | dro / restic |")
    rows.append("|---|---:|---:|---:|")
    db = d.repo_bytes / MB if d else None
    rb = r.repo_bytes / MB if r else None
    rows.append(f"| repository size (MB, after 3 backups) | {cell(db, '.1f')} | {cell(rb, '.1f')} | "
                f"{cell(db / rb if db and rb else None, '.3f')} |")
    for op in OPS:
        dm = d.ops[op].maxrss_mb if d and op in d.ops else None
        rm = r.ops[op].maxrss_mb if r and op in r.ops else None
        rows.append(f"| peak RSS MB, {op} | {cell(dm, '.0f')} | {cell(rm, '.0f')} | "
                    f"{cell(dm / rm if dm and rm else None, '.2f')} |")
    for op in ("initial backup", "full restore"):
        dc = d.ops[op].cpu_s if d and op in d.ops else None
        rc = r.ops[op].cpu_s if r and op in r.ops else None
        rows.append(f"| CPU s (user+sys), {op} | {cell(dc, '.1f')} | {cell(rc, '.1f')} | "
                    f"{cell(dc / rc if dc and rc else None, '.2f')} |")
    ok = {name: res.restore_ok for name, res in results.items()}
    rows.append("")
    rows.append(f"Dataset: {info['files']} files, {size / MB:.0f} MB apparent "
                f"({float(info['allocated_bytes']) / MB:.0f} MB allocated; "  # type: ignore[arg-type]
                f"{float(info['changed_bytes']) / MB:.0f} MB changed by the mutation), "  # type: ignore[arg-type]
                f"seed {info['seed']}, {info['cpus']} CPUs (1-min load average {info['load']} at start/end: "
                f"other jobs share the machine), page cache "
                f"{'dropped before each op' if info['cold_cache'] else 'warm'}; {info['restic']}. "
                f"Restore byte-identical: {ok}.")
    return "\n".join(rows)


def write_section(path: Path, text: str, command: str) -> None:
    """Replace the generated table of this benchmark's section of BENCHMARKS.md; the prose
    around the markers (analysis, profile notes) and other sections are left alone."""
    body = (f"{SECTION_BEGIN}\nCommand: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
            f"{text}\n{SECTION_END}")
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION_BEGIN in old and SECTION_END in old:
        head, rest = old.split(SECTION_BEGIN, 1)
        new = head + body + rest.split(SECTION_END, 1)[1]
    else:
        new = old.rstrip("\n") + f"\n\n{HEADING}\n\n" + body + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="dro vs restic backup benchmark")
    p.add_argument("--size", type=dataset.parse_size, default=dataset.parse_size("1.5GiB"),
                   help="dataset data bytes, e.g. 1.5GiB (default)")
    p.add_argument("--quick", action="store_true", help="~200 MB smoke run")
    p.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / ".work")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tools", default="dro,restic", help="comma-separated subset of dro,restic")
    p.add_argument("--warm", action="store_true", help="do not drop the page cache")
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the restore comparison")
    p.add_argument("--benchmarks-md", type=Path, default=ROOT / "BENCHMARKS.md",
                   help="file whose dro-vs-restic section a full (non --quick) run rewrites")
    p.add_argument("--no-record", action="store_true", help="do not touch BENCHMARKS.md")
    p.add_argument("--no-cache", action="store_true",
                   help="regenerate the dataset instead of copying the cached pristine tree from --work")
    p.add_argument("--keep", action="store_true", help="keep the dataset and repositories afterwards")
    args = p.parse_args(argv)
    if args.quick:
        args.size = dataset.parse_size("200MiB")
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    # Our own subdirectory: other benchmarks share the --work directory.
    args.work = args.work.resolve() / "backup"
    results, info = bench(args)
    text = table(results, info)
    print("\n" + text)
    work = args.work
    (work / "results.md").write_text(text + "\n")
    (work / "results.json").write_text(json.dumps(
        {"info": info, "results": {k: asdict(v) for k, v in results.items()}}, indent=2))
    if not (args.quick or args.no_record or args.tools != ["dro", "restic"]):
        write_section(args.benchmarks_md, text, "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]))
    if not args.keep:
        for name in ("data", "dro-repo", "restic-repo", "restic-cache", "restore"):
            shutil.rmtree(work / name, ignore_errors=True)
    bad = [name for name, res in results.items() if res.restore_ok is False]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
