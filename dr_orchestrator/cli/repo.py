"""`dro repo …`, `dro backup`, `snapshots`, `ls`, `diff`, `restore`, `verify`, `forget`, `prune`, `unlock`.

Parsing and rendering only; the work is in dr_orchestrator.app.repo. Passwords come from
DRO_PASSWORD or --password-file, never from an option value.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from dr_orchestrator.cli.common import err_console, human_size, print_json
from dr_orchestrator.errors import BadInput

if TYPE_CHECKING:
    from rich.progress import Progress


class _LazyApp:
    """dr_orchestrator.app.repo, imported on first use: the crypto/compression stack costs
    ~0.4 s to import and `dro` commands of other areas should not pay for it."""

    def __getattr__(self, name: str) -> Any:
        from dr_orchestrator.app import repo as module

        return getattr(module, name)


app = _LazyApp()

REPO = typer.Option(None, "--repo", "-r", envvar="DRO_REPO", help="Repository URL (or set DRO_REPO).")
PWFILE = typer.Option(None, "--password-file", help="File whose first line is the password (else DRO_PASSWORD).")
JSON = typer.Option(False, "--json", help="Machine-readable output.")
console = Console(soft_wrap=True)  # one line per message, also when piped


class _Bar:
    """Adapter from the repository's Progress protocol to a rich progress bar."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.p = progress
        self.task = progress.add_task(label, total=None)
        self.files = 0

    def set_total(self, total_bytes: int | None) -> None:
        self.p.update(self.task, total=total_bytes)

    def advance(self, nbytes: int, nfiles: int = 0) -> None:
        self.p.update(self.task, advance=nbytes)


def _print_sweep(removed: int, warnings: list[str]) -> None:
    """What prune's sweep of temp files did (PruneReport.temp_files_removed, .warnings)."""
    if removed:
        console.print(f"removed {removed} temp file(s) of writes killed more than a day ago")
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@contextmanager
def _progress(label: str, as_json: bool) -> Iterator[_Bar | None]:
    if as_json or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True) as p:
        yield _Bar(p, label)


def _open(repo: str | None, password_file: str | None) -> Any:
    return app.open_repo(app.repo_url(repo), app.read_password(password_file))


def register(app_: typer.Typer) -> None:  # noqa: C901 - one place that lists the area's commands
    repo_app = typer.Typer(help="Create repositories and manage their passwords.", no_args_is_help=True)
    key_app = typer.Typer(help="Password slots of a repository.", no_args_is_help=True)
    repo_app.add_typer(key_app, name="key")
    app_.add_typer(repo_app, name="repo")

    @repo_app.command("init")
    def init(url: str = typer.Argument(None, help="Repository URL (default: DRO_REPO)."),
             password_file: str = PWFILE, as_json: bool = JSON) -> None:
        """Create an empty encrypted repository at URL."""
        r = app.init_repo(app.repo_url(url), app.read_password(password_file))
        if as_json:
            print_json({"url": r.backend.url, "id": r.config.id})
        else:
            console.print(f"created repository {r.config.id[:8]} at {r.backend.url}")

    @key_app.command("add")
    def key_add(repo: str = REPO, password_file: str = PWFILE,
                new_password_file: str = typer.Option(None, "--new-password-file",
                                                      help="File with the new password (else DRO_NEW_PASSWORD)."),
                as_json: bool = JSON) -> None:
        """Add a password slot (the new password from DRO_NEW_PASSWORD or --new-password-file)."""
        r = _open(repo, password_file)
        kid = r.add_key(app.read_password(new_password_file, env="DRO_NEW_PASSWORD", what="new password"))
        print_json({"id": kid}) if as_json else console.print(f"added key slot {kid[:8]}")

    @key_app.command("list")
    def key_list(repo: str = REPO, password_file: str = PWFILE, as_json: bool = JSON) -> None:
        """List password slots."""
        keys = _open(repo, password_file).list_keys()
        if as_json:
            print_json(keys)
            return
        t = Table("id", "current", "created", "host", "user", "kdf")
        for k in keys:
            t.add_row(k["id"][:8], "*" if k["current"] else "", str(k["created"]), str(k["hostname"]),
                      str(k["username"]), str(k["kdf"]))
        console.print(t)

    @key_app.command("remove")
    def key_remove(key_id: str, repo: str = REPO, password_file: str = PWFILE, as_json: bool = JSON) -> None:
        """Remove a password slot (not the last one, not the one in use)."""
        _open(repo, password_file).remove_key(key_id)
        print_json({"removed": key_id}) if as_json else console.print(f"removed key slot {key_id}")

    @app_.command("backup")
    def backup(paths: list[str] = typer.Argument(None, help="Files/directories (or a RUNBOOK with --data-class)."),
               repo: str = REPO, password_file: str = PWFILE,
               exclude: list[str] = typer.Option([], "--exclude", "-e", help="Glob of paths/names to skip."),
               tag: list[str] = typer.Option([], "--tag", help="Tag the snapshot."),
               host: str = typer.Option(None, "--host", help="Hostname recorded (default: this host)."),
               data_class: str = typer.Option(None, "--data-class", help="Back up this runbook data class."),
               as_json: bool = JSON) -> None:
        """Back up PATHs into the repository (incremental against the last snapshot of the same paths)."""
        runbook_model = None
        if data_class:
            if not paths or len(paths) != 1:
                raise BadInput("--data-class needs exactly one RUNBOOK argument")
            from dr_orchestrator.runbook import load_runbook

            runbook_model = load_runbook(paths[0])
        if runbook_model is not None and password_file is None:
            from dr_orchestrator.app.passwords import repository_password

            password = str(repository_password(runbook_model))
        else:
            password = app.read_password(password_file)
        with _progress("backup", as_json) as bar:
            if runbook_model is not None:
                from dr_orchestrator.app.sources import backup_data_class

                snap = backup_data_class(runbook_model, data_class, password, host=host, progress=bar)
            else:
                if not paths:
                    raise BadInput("nothing to back up", "give one or more paths")
                r = app.open_repo(app.repo_url(repo), password)
                snap = r.backup(paths, excludes=exclude, tags=tag, host=host, progress=bar)
        if as_json:
            print_json(snap.to_json())
            return
        s = snap.summary
        console.print(f"snapshot {snap.short_id} saved: {s['files']} files, {human_size(s['bytes'])}; "
                      f"new {s['files_new']}, changed {s['files_changed']}, unmodified {s['files_unmodified']}; "
                      f"added {human_size(s['bytes_new'])} in {s['duration_s']:.1f}s")
        for e in s.get("errors", []):
            err_console.print(f"[yellow]warning:[/] {e}", highlight=False)

    @app_.command("snapshots")
    def snapshots(repo: str = REPO, password_file: str = PWFILE,
                  tag: list[str] = typer.Option([], "--tag", help="Only snapshots with this tag."),
                  as_json: bool = JSON) -> None:
        """List snapshots, oldest first."""
        snaps = [s for s in _open(repo, password_file).snapshots() if not tag or set(tag) & set(s.tags)]
        if as_json:
            print_json([s.to_json() for s in snaps])
            return
        t = Table("id", "time (UTC)", "host", "tags", "paths", "files", "size")
        for s in snaps:
            t.add_row(s.short_id, s.time.strftime("%Y-%m-%d %H:%M:%S"), s.hostname, ",".join(s.tags),
                      "\n".join(s.paths + list(s.streams)), str(s.summary.get("files", "")),
                      human_size(s.summary.get("bytes", 0)))
        console.print(t)

    @app_.command("ls")
    def ls(snapshot: str, path: str = typer.Argument("/"), repo: str = REPO, password_file: str = PWFILE,
           as_json: bool = JSON) -> None:
        """List files of SNAPSHOT (below PATH)."""
        r = _open(repo, password_file)
        rows = app.ls(r, r.find_snapshot(snapshot), path)
        if as_json:
            print_json(rows)
            return
        for row in rows:
            extra = f" -> {row['target']}" if "target" in row else ""
            typer.echo(f"{row['mode']:>7} {row['size']:>12} {row['mtime']} {row['path']}{extra}")

    @app_.command("diff")
    def diff(snap1: str, snap2: str, repo: str = REPO, password_file: str = PWFILE, as_json: bool = JSON) -> None:
        """What changed between two snapshots."""
        r = _open(repo, password_file)
        d = app.diff(r, r.find_snapshot(snap1), r.find_snapshot(snap2))
        if as_json:
            print_json(d.to_json())
            return
        for sign, items in (("+", d.added), ("-", d.removed), ("M", d.modified), ("U", d.metadata)):
            for p in items:
                typer.echo(f"{sign} {p}")
        console.print(f"added {len(d.added)}, removed {len(d.removed)}, modified {len(d.modified)}, "
                      f"metadata only {len(d.metadata)}")

    @app_.command("restore")
    def restore(snapshot: str, target: str = typer.Option(..., "--target", "-t", help="Directory to restore into."),
                include: list[str] = typer.Option([], "--include", "-i", help="Path or glob to restore."),
                at: str = typer.Option(None, "--at", help="With `latest`: newest snapshot at or before this time."),
                repo: str = REPO, password_file: str = PWFILE, as_json: bool = JSON) -> None:
        """Restore SNAPSHOT (an id or `latest`) into --target; every chunk is verified as it is read."""
        r = _open(repo, password_file)
        snap = r.find_snapshot(snapshot, app.parse_when(at))
        with _progress("restore", as_json) as bar:
            rep = r.restore(snap, target, includes=include, progress=bar)
        if as_json:
            print_json(rep.to_json())
            return
        console.print(f"restored snapshot {snap.short_id}: {rep.files} files, {rep.dirs} dirs, "
                      f"{human_size(rep.bytes)} in {rep.duration_s:.1f}s to {rep.target}")
        for w in rep.warnings:
            err_console.print(f"[yellow]warning:[/] {w}", highlight=False)

    @app_.command("verify")
    def verify(read_data: bool = typer.Option(False, "--read-data", help="Read and check every pack."),
               subset: str = typer.Option(None, "--read-data-subset", help="Read a rotating share, e.g. 10%."),
               repo: str = REPO, password_file: str = PWFILE, as_json: bool = JSON) -> None:
        """Check the repository's structure (and data); exit 3 on any damage."""
        fraction = 1.0 if read_data else 0.0
        if subset:
            try:
                fraction = float(subset.rstrip("%")) / (100 if subset.endswith("%") else 1)
            except ValueError as exc:
                raise BadInput(f"invalid --read-data-subset {subset!r}", "use e.g. 10%") from exc
            if not 0 < fraction <= 1:
                raise BadInput("--read-data-subset must be in (0, 100%]")
        r = _open(repo, password_file)
        with _progress("verify", as_json) as bar:
            rep = r.verify(fraction, progress=bar)
        if as_json:
            print_json(rep.to_json())
        else:
            console.print(f"{rep.snapshots} snapshots, {rep.packs} packs, {rep.blobs} blobs; read "
                          f"{rep.packs_read} packs ({human_size(rep.bytes_read)}) in {rep.duration_s:.1f}s; "
                          f"{rep.unreferenced_packs} unreferenced packs")
            if rep.ok:
                console.print("[green]no errors[/]")
        rep.raise_for_errors()

    @app_.command("forget")
    def forget(keep_last: int = typer.Option(0, "--keep-last"), keep_hourly: int = typer.Option(0, "--keep-hourly"),
               keep_daily: int = typer.Option(0, "--keep-daily"), keep_weekly: int = typer.Option(0, "--keep-weekly"),
               keep_monthly: int = typer.Option(0, "--keep-monthly"),
               keep_yearly: int = typer.Option(0, "--keep-yearly"),
               keep_within: str = typer.Option(None, "--keep-within", help="e.g. 7d, 12h"),
               keep_tag: list[str] = typer.Option([], "--keep-tag"),
               immutable_for: str = typer.Option(None, "--immutable-for",
                                                 help="Never remove snapshots younger than this (e.g. 30d)."),
               dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be removed."),
               prune: bool = typer.Option(False, "--prune", help="Prune unused data afterwards."),
               repo: str = REPO, password_file: str = PWFILE, as_json: bool = JSON) -> None:
        """Remove snapshots not kept by the policy (per host and paths)."""
        policy = app.policy_from(keep_last=keep_last, keep_hourly=keep_hourly, keep_daily=keep_daily,
                                 keep_weekly=keep_weekly, keep_monthly=keep_monthly, keep_yearly=keep_yearly,
                                 keep_within=keep_within, keep_tags=keep_tag, immutable_for=immutable_for)
        r = _open(repo, password_file)
        res = r.forget(policy, dry_run)
        out: dict[str, Any] = res.to_json()
        out["dry_run"] = dry_run
        if prune and not dry_run:
            out["prune"] = r.prune().to_json()
        if as_json:
            print_json(out)
            return
        for s in res.keep:
            console.print(f"keep   {s.short_id} {s.time:%Y-%m-%d %H:%M} ({', '.join(res.reasons[s.id])})")
        for s in res.remove:
            console.print(f"{'would remove' if dry_run else 'remove'} {s.short_id} {s.time:%Y-%m-%d %H:%M}")
        if "prune" in out:
            console.print(f"pruned: {out['prune']['packs_deleted']} packs deleted, "
                          f"{out['prune']['packs_repacked']} repacked, {human_size(out['prune']['bytes_freed'])} freed")
            _print_sweep(out["prune"]["temp_files_removed"], out["prune"]["warnings"])

    @app_.command("prune")
    def prune_cmd(dry_run: bool = typer.Option(False, "--dry-run"), repo: str = REPO, password_file: str = PWFILE,
                  as_json: bool = JSON) -> None:
        """Delete data no snapshot references (repacking mostly-unused packs)."""
        r = _open(repo, password_file)
        with _progress("prune", as_json) as bar:
            rep = r.prune(dry_run=dry_run, progress=bar)
        if as_json:
            print_json(rep.to_json())
            return
        console.print(f"{'would delete' if dry_run else 'deleted'} {rep.packs_deleted} packs, repacked "
                      f"{rep.packs_repacked}, {human_size(rep.bytes_freed)} freed; {rep.blobs_live} blobs live")
        _print_sweep(rep.temp_files_removed, rep.warnings)

    @app_.command("unlock")
    def unlock(remove_all: bool = typer.Option(False, "--remove-all", help="Also remove live locks."),
               repo: str = REPO, as_json: bool = JSON) -> None:
        """Remove stale repository locks."""
        removed = app.unlock(app.repo_url(repo), remove_all=remove_all)
        if as_json:
            print_json([lk.to_json() for lk in removed])
            return
        console.print(f"removed {len(removed)} lock(s)")
