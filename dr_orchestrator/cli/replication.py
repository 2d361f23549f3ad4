"""`dro replicate`, `dro repair`, `dro status`, `dro schedule run|export`.

Parsing and rendering only; the work is in dr_orchestrator.app.{replication,status,schedule}.
`dro replicate`'s body is in cli/replication_run.py, which cli/quick.py also runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from dr_orchestrator.cli import common
from dr_orchestrator.cli import replication_run as run
from dr_orchestrator.cli.common import print_json
from dr_orchestrator.errors import DRError, ObjectiveMissed

JSON = typer.Option(False, "--json", help="Machine-readable output.")


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
        run.replicate(runbook, data_class=data_class, to=to, from_url=from_url, bandwidth=bandwidth,
                      dry_run=dry_run, workers=workers, verify=verify, deep=deep, keep_deleted=keep_deleted,
                      as_json=as_json)

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

        with run.progress("repair", as_json) as prog:
            rep = app_repl.repair(repo, from_url, base=run.options(None, dry_run, workers, "content", True,
                                                                   True, prog))
        if as_json:
            print_json(rep.to_dict())
        else:
            run.render(f"repair {repo} from {from_url}", rep)
        run.exit_for([rep])

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
