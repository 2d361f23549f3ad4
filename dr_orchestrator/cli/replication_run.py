"""The body of `dro replicate` and the rendering it shares with `dro repair`; no typer here.

`cli/replication.py` declares the commands for typer; `cli/quick.py` runs a plain
`dro replicate …` without loading typer and click at all. Both call `replicate()` below, so
the work, the output and the exit codes are the same either way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dr_orchestrator.cli import common
from dr_orchestrator.cli.common import human_size, print_json
from dr_orchestrator.errors import BadInput, DRError, IntegrityError
from dr_orchestrator.replication.report import ReplicationReport

if TYPE_CHECKING:  # rich's progress module loads only when a command draws bars
    from rich.progress import Progress


def replicate(runbook: str | None = None, data_class: str | None = None, to: list[str] | None = None,
              from_url: str | None = None, bandwidth: str | None = None, dry_run: bool = False,
              workers: int = 8, verify: str = "content", deep: bool = False, keep_deleted: bool = False,
              as_json: bool = False) -> None:
    """`dro replicate` (parameters as the command's options; see cli/replication.py)."""
    to = list(to or [])
    from dr_orchestrator.app import replication as app_repl

    password = app_repl.password_from_env()
    with progress("replicate", as_json) as prog:
        opts = options(bandwidth, dry_run, workers, verify, deep, keep_deleted, prog)
        if from_url:
            if runbook or data_class or len(to) != 1:
                raise BadInput("--from URL needs exactly one --to URL and no runbook",
                               "dro replicate --from s3://a/repo --to gs://b/repo")
            rep = app_repl.replicate_urls(from_url, to[0], password=password, base=opts)
            if as_json:
                print_json(rep.to_dict())
            else:
                render(f"{from_url} → {to[0]}", rep)
            exit_for([rep])
            return
        if not runbook:
            raise BadInput("give a RUNBOOK, or --from URL --to URL")
        result = app_repl.replicate_runbook(runbook, data_class=data_class, to=to, password=password,
                                            base=opts)
    if as_json:
        print_json(result.to_dict())
    else:
        for r in result.results:
            render(f"{r.data_class}: {r.source_site} → {r.target_site}", r.report)
    exit_for([r.report for r in result.results])


class _Bars:
    """Adapter from the replicator's Progress protocol to rich progress bars (one per phase)."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.p = progress
        self.label = label
        self.task: Any = None

    def phase(self, name: str, objects: int, nbytes: int) -> None:
        if self.task is not None:
            self.p.update(self.task, visible=False)
        self.task = self.p.add_task(f"{self.label} {name} ({objects} objects)", total=nbytes or None)

    def advance(self, objects: int, nbytes: int) -> None:
        if self.task is not None:
            self.p.update(self.task, advance=nbytes)


@contextmanager
def progress(label: str, quiet: bool) -> Iterator[Any]:
    from dr_orchestrator.replication.options import NoProgress

    if quiet or not sys.stderr.isatty():
        yield NoProgress()
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeElapsedColumn(), console=common.err_console, transient=True) as p:
        yield _Bars(p, label)


def options(bandwidth: str | None, dry_run: bool, workers: int, verify: str, deep: bool,
             keep_deleted: bool, progress: Any) -> Any:
    from dr_orchestrator.replication.options import Options
    from dr_orchestrator.replication.throttle import parse_rate

    if verify not in ("content", "checksum"):
        raise BadInput(f"unknown verify mode {verify!r}", "use content or checksum")
    return Options(dry_run=dry_run, workers=max(1, workers), bandwidth=parse_rate(bandwidth) if bandwidth else None,
                   verify=verify, deep=deep, mirror_deletes=not keep_deleted, progress=progress)


def render(title: str, rep: ReplicationReport) -> None:
    c = rep.counters
    verb = "would copy" if rep.dry_run else "copied"
    done = rep.to_copy if rep.dry_run else c.objects_copied
    nbytes = rep.to_copy_bytes if rep.dry_run else rep.bytes_transferred
    common.console.print(f"[bold]{title}[/]: {verb} {done} object(s), {human_size(nbytes)} "
                         f"({c.objects_server_side} server-side, {c.objects_streamed} streamed; "
                         f"{rep.already_present} already there) in {rep.seconds:.1f}s", highlight=False)
    if rep.snapshots_copied or rep.snapshots_new:
        n = len(rep.snapshots_new) if rep.dry_run else len(rep.snapshots_copied)
        common.console.print(f"  snapshots {'new' if rep.dry_run else 'published'}: {n}", highlight=False)
    for label, items in (("re-sent (damaged at the target)", rep.resent_corrupt_target),
                         ("CORRUPT at the source (not copied)", rep.source_corrupt),
                         ("unrecoverable (damaged here and absent from the replica)", rep.unrecoverable),
                         ("deleted at the target" if not rep.dry_run else "would delete", rep.deleted),
                         ("kept (immutable)", rep.kept_immutable)):
        if items:
            common.console.print(f"  {label}: {len(items)}: {', '.join(items[:5])}{' …' if len(items) > 5 else ''}",
                                 highlight=False)
    for key, why in list(rep.failed.items())[:10]:
        common.err_console.print(f"  [red]failed[/] {key}: {why}", highlight=False)
    for sid, why in rep.snapshots_held_back.items():
        common.err_console.print(f"  [yellow]held back[/] snapshot {sid[:8]}: {why}", highlight=False)
    for w in rep.warnings:
        common.err_console.print(f"  [yellow]warning:[/] {w}", highlight=False)
    if rep.stopped:
        common.err_console.print("  [yellow]stopped early[/]: run again to finish (nothing partial was written)")


def exit_for(reports: list[ReplicationReport]) -> None:
    # DRErrors, not typer.Exit: cli/main.py turns them into a message, a hint and the exit
    # code on both paths (typer's, which runs with standalone_mode=False, and cli/quick.py's).
    corrupt = sum(len(r.source_corrupt) + len(r.unrecoverable) for r in reports)
    if corrupt:
        raise IntegrityError(f"{corrupt} damaged object(s) found (see above); they were not propagated",
                             "repair the damaged site from a healthy replica: dro repair --repo URL --from URL")
    if not all(r.ok for r in reports):
        held = sum(len(r.snapshots_held_back) for r in reports)
        failed = sum(len(r.failed) for r in reports)
        raise DRError(f"replication incomplete: {failed} object(s) failed, {held} snapshot(s) held back"
                      + (", stopped early" if any(r.stopped for r in reports) else ""),
                      "fix the cause shown above and run again; only what is missing will move")


