"""`restore`: a data class's snapshot from the action site's repository to a target.

Snapshot: `latest`, a snapshot id, or an ISO time (the newest snapshot before it).
Repository: `<site storage>/<data class>/` at the step's `from_site`, default the site
the action runs at (the recovery site for failover); password from DRO_PASSWORD (never
in the runbook). Restoring itself is app.sources.restore_data_class's job.
Targets:
- a PostgreSQL DSN (`postgresql://…` or a secret reference to one): the dump stream
  is fed to pg_restore (`--clean`: a failover replaces what is there);
- a path on a local host (or no host): restored in place;
- a path on a remote host: restored into a private temp dir here, then uploaded over
  SFTP file by file with its mode (directories, symlinks and, as root, numeric ownership
  recreated with argv-only commands).
The step's details carry the snapshot id, its time and its age at run start: the
achieved RPO.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepOutput, spec_get
from dr_orchestrator.execution.steps.shell import resolve_value
from dr_orchestrator.planning.model import PlannedStep

PASSWORD_ENV = "DRO_PASSWORD"  # noqa: S105 - the variable's name, not a password


def password_for(data_class: str, run: Any) -> str:
    password = run.repository_password(data_class) if run.repository_password else None
    if password is None:
        password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise BadInput(f"no password for the repository of data class {data_class!r}",
                       f"export {PASSWORD_ENV}=… before running dro")
    run.redactor.add(password)
    return str(password)


class RestoreHandler(BaseHandler):
    kind = "restore"

    def describe(self, step: PlannedStep, run: Any) -> str:
        target = spec_get(step.spec, "target")
        host = spec_get(step.spec, "host") or run.rebuild_host or "local"
        site = spec_get(step.spec, "from_site") or run.site_for(step.service)
        return (f"restore {spec_get(step.spec, 'data_class')} snapshot "
                f"{spec_get(step.spec, 'snapshot', 'latest')} from site {site} -> {host}:{target}")

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        from dr_orchestrator.app import sources as app_sources

        run = ctx.run
        data_class = str(spec_get(step.spec, "data_class"))
        site = spec_get(step.spec, "from_site") or run.site_for(step.service)
        if site is None:
            raise BadInput(f"no site to restore {step.service!r} from", "set the step's from_site")
        password = password_for(data_class, run)
        repo = app_sources.open_repository(run.runbook, data_class, password, site=site)
        try:  # pin the snapshot first: its time is the achieved RPO, and a backup landing
            ref = str(spec_get(step.spec, "snapshot", "latest") or "latest")  # meanwhile must not change it
            snap = app_sources.pick_snapshot(repo, data_class, ref)
        finally:
            with contextlib.suppress(Exception):
                repo.close()
        ctx.output(f"data class {data_class}: snapshot {snap.short_id} of {snap.time.isoformat()} "
                   f"at site {site}")
        target = resolve_value(spec_get(step.spec, "target"), run)
        ref_host = spec_get(step.spec, "host") or ctx.host_override
        runner = run.runner(str(ref_host), step.service) if ref_host else None

        def restore_into(where: str) -> Any:
            return app_sources.restore_data_class(
                run.runbook, data_class, where, password, snapshot=snap.id,
                source=spec_get(step.spec, "source"), site=site, clean=app_sources.is_dsn(where))

        if app_sources.is_dsn(target) or runner is None or runner.spec.local:
            report = restore_into(target)
            detail: dict[str, Any] = {"target": report.entries[0].target if report.entries else target}
        else:
            tmp = tempfile.mkdtemp(prefix="dro-restore-")
            try:
                report = restore_into(tmp)
                detail = {"target": f"{runner.spec.display}:{target}",
                          "files": upload_tree(runner, tmp, target, ctx)}
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        for entry in report.entries:
            ctx.output(f"restored {entry.source} ({entry.kind}) -> {entry.target}")
        age = max(run.started_wall - snap.time.timestamp(), 0.0)
        return StepOutput({"data_class": data_class, "snapshot": snap.id,
                           "snapshot_time": snap.time.isoformat(), "snapshot_age_s": round(age, 3),
                           **detail})


def upload_tree(runner: Any, local_root: str, remote_root: str, ctx: StepContext) -> int:
    """Copy a restored local tree to the host: directories first, files over SFTP with
    their mode, then symlinks, directory modes and — when both ends are root — numeric
    ownership (as `tar --numeric-owner` would). Returns the number of files sent."""
    dirs: list[tuple[str, str]] = [(local_root, remote_root)]
    files: list[tuple[str, str]] = []
    links: list[tuple[str, str]] = []
    for base, dirnames, filenames in os.walk(local_root):
        rel = os.path.relpath(base, local_root)
        remote_base = remote_root if rel == "." else f"{remote_root.rstrip('/')}/{rel}"
        for name in dirnames:
            local = os.path.join(base, name)
            (links if os.path.islink(local) else dirs).append((local, f"{remote_base}/{name}"))
        for name in filenames:
            local = os.path.join(base, name)
            (links if os.path.islink(local) else files).append((local, f"{remote_base}/{name}"))

    def run(argv: list[str], what: str) -> None:
        result = runner.run(argv, timeout=ctx.remaining())
        if result.exit_code != 0:
            raise ctx.fail(f"{what} on {runner.spec.display} failed: {result.stderr.strip()[-200:]}")

    for chunk in _chunks([r for _, r in dirs]):
        run(["mkdir", "-p", "--", *chunk], f"creating directories under {shlex.quote(remote_root)}")
    for local, remote in files:
        ctx.check_deadline()
        runner.put_file(local, remote, mode=os.lstat(local).st_mode & 0o7777)
    pairs = [x for local, remote in links for x in (os.readlink(local), remote)]
    for chunk in _chunks(pairs, 2 * CHUNK):
        run(["bash", "-c", 'while [ "$#" -gt 1 ]; do ln -sfn -- "$1" "$2"; shift 2; done', "ln", *chunk],
            "creating symlinks")
    by_mode: dict[str, list[str]] = {}
    for local, remote in dirs:
        by_mode.setdefault(oct(os.lstat(local).st_mode & 0o7777)[2:], []).append(remote)
    for mode, paths in sorted(by_mode.items()):
        for chunk in _chunks(paths):
            run(["chmod", mode, "--", *chunk], "setting directory modes")
    if os.geteuid() == 0 and runner.spec.user in ("root", None):
        by_owner: dict[str, list[str]] = {}
        for local, remote in dirs + files + links:
            st = os.lstat(local)
            by_owner.setdefault(f"{st.st_uid}:{st.st_gid}", []).append(remote)
        for owner, paths in sorted(by_owner.items()):
            for chunk in _chunks(paths):
                run(["chown", "-h", owner, "--", *chunk], "setting ownership")
    ctx.output(f"uploaded {len(files)} files, {len(links)} symlinks, {len(dirs)} directories "
               f"to {runner.spec.display}:{remote_root}")
    return len(files)


CHUNK = 500  # paths per command line: far below ARG_MAX


def _chunks(items: list[str], size: int = CHUNK) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


HANDLER = RestoreHandler()
