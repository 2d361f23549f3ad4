"""What a short `dro` command loads: the start-up budget, checked by module, not by clock.

A dir → dir `dro replicate` with nothing (or little) to copy is mostly interpreter start-up;
BENCHMARKS.md compares it with `rclone copy`. These tests fail when a change makes such a
run import one of the heavy libraries it does not need (pydantic through typer >= 0.22's
option conversion was ~0.2 s; rich ~50 ms; typer and click ~60 ms: a plain `dro replicate`
is read by cli/quick.py; dataclasses with inspect ~8 ms, and ~0.8 ms to define each class;
the cloud SDKs far more).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from dr_orchestrator.storage.local import LocalBackend
from tests.unit.replication.synth import synth_repo

HEAVY = ("pydantic", "rich", "typer", "click", "boto3", "botocore", "google", "azure", "paramiko", "jinja2",
         "networkx",
         # standard modules the dir → dir path loads only on demand (a retry, a state file)
         "logging", "random", "hashlib", "tempfile",
         # its records are NamedTuples and plain classes (storage/base.py)
         "dataclasses", "inspect")

PROBE = """
import json, sys
from dr_orchestrator.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = sorted({m.split(".")[0] for m in sys.modules})
replicated = "dr_orchestrator.replication.replicator" in sys.modules
print(json.dumps({"code": code, "loaded": loaded, "replicated": replicated}))
"""


def run_probe(args: list[str], tmp_path: Path) -> dict:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "DRO_STATE_DIR": str(tmp_path / "state"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dir_to_dir_replicate_loads_no_heavy_library(tmp_path: Path) -> None:
    synth_repo(LocalBackend(tmp_path / "src"), snapshots=2, packs=2, rng=random.Random(3))
    args = ["replicate", "--from", f"file://{tmp_path}/src", "--to", f"file://{tmp_path}/dst", "--json"]
    first = run_probe(args, tmp_path)  # copies everything
    again = run_probe(args, tmp_path)  # nothing new
    for run in (first, again):
        assert run["code"] == 0
        assert run["replicated"]  # the probe saw the run
        assert not set(HEAVY) & set(run["loaded"]), set(HEAVY) & set(run["loaded"])
    assert (tmp_path / "dst" / "config").is_file()


def test_a_bad_option_value_is_still_a_usage_error(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "replicate", "--from", "file:///x",
                          "--to", "file:///y", "--workers", "many"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 2
    assert "--workers" in out.stderr and "'many' is not a valid integer" in out.stderr


def test_replicate_leaves_quickly_with_its_whole_report_and_exit_code(tmp_path: Path) -> None:
    """The console script as a user runs it (argv from the command line: the quick exit)."""
    synth_repo(LocalBackend(tmp_path / "src"), snapshots=2, packs=40, size=4096, rng=random.Random(4))
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "DRO_STATE_DIR": str(tmp_path / "state"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    dro = [sys.executable, "-m", "dr_orchestrator.cli.main", "replicate", "--json"]
    ok = subprocess.run([*dro, "--from", f"file://{tmp_path}/src", "--to", f"file://{tmp_path}/dst"],
                        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)  # the whole document reached the pipe
    assert report["ok"] and report["counters"]["objects_copied"] == report["source_objects"] > 80
    bad = subprocess.run([*dro, "--from", f"file://{tmp_path}/nothing", "--to", f"file://{tmp_path}/dst2"],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert bad.returncode == 2 and "holds no repository" in bad.stderr
