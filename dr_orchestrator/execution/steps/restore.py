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
  SFTP file by file with its mode, directories created first.
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
    """Copy a local tree to the host over SFTP with file modes; returns files sent."""
    dirs, files = [remote_root], []
    for base, dirnames, filenames in os.walk(local_root):
        rel = os.path.relpath(base, local_root)
        remote_base = remote_root if rel == "." else f"{remote_root.rstrip('/')}/{rel}"
        dirs += [f"{remote_base}/{d}" for d in dirnames]
        files += [(os.path.join(base, f), f"{remote_base}/{f}") for f in filenames]
    result = runner.run(["mkdir", "-p", "--", *dirs], timeout=ctx.remaining())
    if result.exit_code != 0:
        raise ctx.fail(f"cannot create {shlex.quote(remote_root)} on {runner.spec.display}: "
                       f"{result.stderr.strip()[-200:]}")
    for local, remote in files:
        if os.path.islink(local):
            continue  # symlinks are recreated by a follow-up step if needed; SFTP would follow them
        ctx.check_deadline()
        runner.put_file(local, remote, mode=os.stat(local).st_mode & 0o7777)
    chmods = [(oct(os.stat(os.path.join(local_root, os.path.relpath(d, remote_root)))
                   .st_mode & 0o7777)[2:], d) for d in dirs[1:]]
    for mode in sorted({m for m, _ in chmods}):
        paths = [d for m, d in chmods if m == mode]
        runner.run(["chmod", mode, "--", *paths], timeout=ctx.remaining())
    ctx.output(f"uploaded {len(files)} files to {runner.spec.display}:{remote_root}")
    return len(files)


HANDLER = RestoreHandler()
