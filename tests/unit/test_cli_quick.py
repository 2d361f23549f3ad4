"""cli/quick.py reads `dro replicate` command lines exactly as typer would, or leaves them to it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

from dr_orchestrator.cli import quick
from dr_orchestrator.cli import replication as replication_cli
from dr_orchestrator.storage.local import LocalBackend
from tests.unit.replication.synth import synth_repo


def replicate_command() -> click.Command:
    app = typer.Typer()
    replication_cli.register(app)
    group = typer.main.get_command(app)
    assert isinstance(group, click.Group)
    return group.commands["replicate"]


def test_the_table_declares_what_typer_declares() -> None:
    cmd = replicate_command()
    declared = {p.name: p for p in cmd.params}
    table = {opt.dest: opt for opt in quick.REPLICATE.options}
    arguments = [p.name for p in cmd.params if isinstance(p, click.Argument)]
    assert arguments == list(quick.REPLICATE.arguments)
    assert set(declared) == set(table) | set(arguments)
    for name, param in declared.items():
        assert quick.REPLICATE.defaults[name] == (list(param.default) if param.multiple else param.default), name
        if isinstance(param, click.Argument):
            continue
        opt = table[name]
        assert isinstance(param, click.Option)
        assert sorted(param.opts) == sorted(opt.names) and not param.secondary_opts, name
        kind = (quick.FLAG if param.is_flag else quick.MULTI if param.multiple
                else quick.INT if isinstance(param.type, click.types.IntParamType) else quick.VALUE)
        assert kind == opt.kind, name
        if kind == quick.VALUE:
            assert isinstance(param.type, click.types.StringParamType), name


READABLE = [
    [],
    ["--from", "file:///a", "--to", "file:///b"],
    ["--from=file:///a", "--to=s3://b/r", "--json", "--workers", "3"],
    ["runbooks/r.yaml", "-c", "db", "--to", "eu", "--to", "us", "--dry-run"],
    ["--to", "eu", "runbooks/r.yaml", "--data-class=db", "--verify", "checksum", "--deep", "--keep-deleted"],
    ["--bandwidth-limit", "50MiB", "--workers", "+4", "--workers", " 16 ", "r.yaml"],
    ["--from", "", "--to", "x", "--json", "--json"],
    ["-", "--workers=0"],
    ["--from=-x", "--to=", "a=b"],
]


@pytest.mark.parametrize("args", READABLE)
def test_what_it_reads_it_reads_as_typer_does(args: list[str]) -> None:
    ctx = replicate_command().make_context("replicate", list(args))
    by_typer = {k: list(v) if isinstance(v, tuple) else v for k, v in ctx.params.items()}
    assert quick.parse(args, quick.REPLICATE) == by_typer


LEFT_TO_TYPER = [
    ["--help"],
    ["-h"],
    ["--from", "a", "--to", "b", "--no-such-option"],
    ["--workers", "many"],
    ["--workers"],
    ["--from"],
    ["--to", "--json"],  # click would take "--json" as the URL: typer decides
    ["--json=yes"],
    ["--", "r.yaml"],
    ["a.yaml", "b.yaml"],
    ["-cdb"],
    ["-c=db"],  # click: short options take no `=`; the value would be "=db"
    ["--verif", "content"],
]


@pytest.mark.parametrize("args", LEFT_TO_TYPER)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert quick.parse(args, quick.REPLICATE) is None


def test_only_replicate_is_run_quickly() -> None:
    assert quick.run(["repair", "--repo", "a", "--from", "b"]) is None
    assert quick.run(["--version"]) is None
    assert quick.run([]) is None


def test_bad_input_still_gets_typers_message_and_exit_2() -> None:
    out = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "replicate", "--from", "file:///x",
                          "--to", "file:///y", "--wokers", "3"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 2
    assert "No such option '--wokers'. Did you mean '--workers'?" in out.stderr


def test_a_reader_that_leaves_gets_the_same_exit_code_on_both_paths(tmp_path: Path) -> None:
    """`dro replicate … --json | head -c0`: typer exits 1 on a closed pipe; so does the quick path."""
    synth_repo(LocalBackend(tmp_path / "src"), snapshots=1, packs=2, rng=random.Random(5))
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "DRO_STATE_DIR": str(tmp_path / "state"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    codes = []
    for i, tail in enumerate(([], ["--"])):  # a trailing `--` is left to typer
        cmd = [sys.executable, "-m", "dr_orchestrator.cli.main", "replicate", "--from", f"file://{tmp_path}/src",
               "--to", f"file://{tmp_path}/dst{i}", "--json", *tail]
        read, write = os.pipe()
        os.close(read)  # nobody will read the report
        try:
            out = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=120,
                                 check=False)
        finally:
            os.close(write)
        assert (tmp_path / f"dst{i}" / "config").is_file(), out.stderr  # the work was done
        assert "Traceback" not in out.stderr
        codes.append(out.returncode)
    assert codes == [1, 1]
