"""`dro replicate`, `dro repair`, `dro status`, `dro schedule run|export`.

Parsing and rendering only; the work is in dr_orchestrator.app.{replication,status,schedule}.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from dr_orchestrator.cli import common
from dr_orchestrator.cli.common import print_json
from dr_orchestrator.errors import BadInput, DRError, IntegrityError, ObjectiveMissed
from dr_orchestrator.replication.report import ReplicationReport

if TYPE_CHECKING:  # rich's progress and table modules load only when a command draws them
    from rich.progress import Progress

JSON = typer.Option(False, "--json", help="Machine-readable output.")


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
def _progress(label: str, quiet: bool) -> Iterator[Any]:
    from dr_orchestrator.replication.replicator import _NoProgress

    if quiet or not sys.stderr.isatty():
        yield _NoProgress()
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


def _options(bandwidth: str | None, dry_run: bool, workers: int, verify: str, deep: bool,
             keep_deleted: bool, progress: Any) -> Any:
    from dr_orchestrator.replication.replicator import Options
    from dr_orchestrator.replication.throttle import parse_rate

    if verify not in ("content", "checksum"):
        raise BadInput(f"unknown verify mode {verify!r}", "use content or checksum")
    return Options(dry_run=dry_run, workers=max(1, workers), bandwidth=parse_rate(bandwidth) if bandwidth else None,
                   verify=verify, deep=deep, mirror_deletes=not keep_deleted, progress=progress)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def _render(title: str, rep: ReplicationReport) -> None:
    c = rep.counters
    verb = "would copy" if rep.dry_run else "copied"
    done = rep.to_copy if rep.dry_run else c.objects_copied
    nbytes = rep.to_copy_bytes if rep.dry_run else rep.bytes_transferred
    common.console.print(f"[bold]{title}[/]: {verb} {done} object(s), {_size(nbytes)} "
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


def _exit_for(reports: list[ReplicationReport]) -> None:
    # DRErrors, not typer.Exit: main() runs the app with standalone_mode=False, where a
    # typer.Exit code is returned rather than raised and would be lost.
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


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("replicate")
    def replicate(
        runbook: str = typer.Argument(None, help="Runbook whose data classes to replicate."),
        data_class: str = typer.Option(None, "--data-class", "-c", help="Only this data class."),
        to: list[str] = typer.Option([], "--to", help="Target site(s) of the runbook; with --from: a URL."),
        from_url: str = typer.Option(None, "--from", help="Source repository URL (URL-to-URL mode)."),
        bandwidth: str = typer.Option(None, "--bandwidth-limit", help="e.g. 50MiB (per second, all transfers)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show what would move; write nothing."),
        workers: int = typer.Option(8, "--workers", help="Parallel transfers."),
        verify: str = typer.Option("content", "--verify",
                                   help="content: check every object's BLAKE3 (server-side copies are read "
                                        "back); checksum: provider checksums for server-side copies."),
        deep: bool = typer.Option(False, "--deep", help="Also hash every object already at the target."),
        keep_deleted: bool = typer.Option(False, "--keep-deleted",
                                          help="Do not mirror the source's forget/prune at the target."),
        as_json: bool = JSON,
    ) -> None:
        """Copy a repository to another site: data → index → keys/config → snapshots, each object verified.

        Only missing objects move, so an interrupted run resumes by running it again."""
        from dr_orchestrator.app import replication as app_repl

        password = app_repl.password_from_env()
        with _progress("replicate", as_json) as prog:
            opts = _options(bandwidth, dry_run, workers, verify, deep, keep_deleted, prog)
            if from_url:
                if runbook or data_class or len(to) != 1:
                    raise BadInput("--from URL needs exactly one --to URL and no runbook",
                                   "dro replicate --from s3://a/repo --to gs://b/repo")
                rep = app_repl.replicate_urls(from_url, to[0], password=password, base=opts)
                if as_json:
                    print_json(rep.to_dict())
                else:
                    _render(f"{from_url} → {to[0]}", rep)
                _exit_for([rep])
                return
            if not runbook:
                raise BadInput("give a RUNBOOK, or --from URL --to URL")
            result = app_repl.replicate_runbook(runbook, data_class=data_class, to=to, password=password,
                                                base=opts)
        if as_json:
            print_json(result.to_dict())
        else:
            for r in result.results:
                _render(f"{r.data_class}: {r.source_site} → {r.target_site}", r.report)
        _exit_for([r.report for r in result.results])

    @app.command("repair")
    def repair(
        repo: str = typer.Option(..., "--repo", help="The damaged repository's URL."),
        from_url: str = typer.Option(..., "--from", help="A healthy replica's URL."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Find the damage; copy nothing."),
        workers: int = typer.Option(8, "--workers", help="Parallel transfers."),
        as_json: bool = JSON,
    ) -> None:
        """Hash every object of a damaged site; replace missing or damaged ones from a replica, verified."""
        from dr_orchestrator.app import replication as app_repl

        with _progress("repair", as_json) as prog:
            rep = app_repl.repair(repo, from_url, base=_options(None, dry_run, workers, "content", True,
                                                                 True, prog))
        if as_json:
            print_json(rep.to_dict())
        else:
            _render(f"repair {repo} from {from_url}", rep)
        _exit_for([rep])

    @app.command("status")
    def status(
        runbook: str = typer.Argument(..., help="Runbook whose RPOs to check."),
        data_class: list[str] = typer.Option([], "--data-class", "-c", help="Only these data classes."),
        metrics: str = typer.Option(None, "--metrics", help="Also write Prometheus text metrics to FILE."),
        as_json: bool = JSON,
    ) -> None:
        """RPO per data class and site: newest (verified) snapshot, its age, OK or VIOLATED (exit 1)."""
        from dr_orchestrator.app import replication as app_repl
        from dr_orchestrator.app import status as app_status

        report = app_status.status_of_runbook(runbook, app_repl.password_from_env(), data_classes=data_class,
                                              metrics_file=metrics)
        if as_json:
            print_json(report.to_dict())
        else:
            from rich.table import Table

            table = Table(title=f"RPO status at {report.now.strftime('%Y-%m-%d %H:%M:%S')} UTC")
            for col in ("data class", "site", "role", "newest snapshot", "age", "RPO", "status"):
                table.add_column(col)
            for s in report.statuses:
                snap = f"{s.snapshot[:8]} {s.snapshot_time:%Y-%m-%d %H:%M}" if s.snapshot and s.snapshot_time \
                    else (s.error or "-")
                table.add_row(s.data_class, s.site, s.role, snap, _dur(s.age_seconds), _dur(s.rpo_seconds),
                              "[green]OK[/]" if s.ok else "[bold red]VIOLATED[/]")
            common.console.print(table)
        if not report.ok:
            bad = [f"{s.data_class}@{s.site}" for s in report.statuses if not s.ok]
            raise ObjectiveMissed(f"RPO violated: {', '.join(bad)}",
                                  "run the backup/replication (dro schedule run --once) or check the sites")

    sched = typer.Typer(help="Run backup + replication per data class on its schedule, or export it.",
                        no_args_is_help=True)
    app.add_typer(sched, name="schedule")

    @sched.command("run")
    def schedule_run(
        runbook: str = typer.Argument(..., help="Runbook whose data classes to schedule."),
        once: bool = typer.Option(False, "--once", help="Run now (backup + replication) and exit."),
        data_class: list[str] = typer.Option([], "--data-class", "-c", help="Only these data classes."),
        grace: float = typer.Option(None, "--grace", help="On SIGTERM, wait at most this many seconds."),
    ) -> None:
        """Long-running scheduler (one log line per run; SIGTERM stops gracefully)."""
        from dr_orchestrator.app import replication as app_repl
        from dr_orchestrator.app import schedule as app_sched

        password = app_repl.password_from_env()  # else the runbook's repository_password (checked on load)

        def log(line: str) -> None:
            if not line[:4].isdigit():
                line = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}"
            print(line, flush=True)

        code = app_sched.run(runbook, password, once=once, data_classes=data_class, log=log, grace=grace)
        if code:
            raise DRError("a scheduled run failed (see the log line above)")

    @sched.command("export")
    def schedule_export(
        runbook: str = typer.Argument(..., help="Runbook whose schedule to export."),
        to: str = typer.Option(..., "--to", help="cron | systemd | github-actions | kubernetes"),
        out: str = typer.Option(..., "--out", help="Directory to write the files into."),
        image: str = typer.Option("dr-orchestrator:latest", "--image", help="Container image (kubernetes)."),
        dro: str = typer.Option("dro", "--dro", help="How to invoke dro on the target machine."),
    ) -> None:
        """Write crontab lines, systemd units, a GitHub Actions workflow or Kubernetes CronJobs."""
        from dr_orchestrator.app import schedule as app_sched

        result = app_sched.export(runbook, to, out, dro=dro, image=image)
        for rel in result.files:
            common.console.print(f"wrote {out.rstrip('/')}/{rel}", highlight=False)
        for note in result.notes:
            common.err_console.print(f"[yellow]note:[/] {note}", highlight=False)


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"
