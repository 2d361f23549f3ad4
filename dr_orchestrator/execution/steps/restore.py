"""`restore`: a data class's snapshot from the action site's repository to a target.

Snapshot: `latest`, a snapshot id, or an ISO time (the newest snapshot before it).
Repository: `<site storage>/<data class>/` at the site the action runs at (the
recovery site for failover), password from DRO_PASSWORD (never in the runbook).
Targets:
- a PostgreSQL DSN (`postgresql://…` or a secret reference to one): the dump stream
  is fed to pg_restore (sources.postgres);
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
from datetime import UTC, datetime
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepOutput, spec_get
from dr_orchestrator.execution.steps.shell import resolve_value
from dr_orchestrator.planning.model import PlannedStep

PASSWORD_ENV = "DRO_PASSWORD"  # noqa: S105 - the variable's name, not a password


def is_dsn(target: str) -> bool:
    return target.startswith(("postgres://", "postgresql://"))


def parse_ref(ref: str) -> tuple[str, datetime | None]:
    """`latest` / id / ISO time -> (find_snapshot ref, at)."""
    try:
        at = datetime.fromisoformat(ref.replace("Z", "+00:00"))
    except ValueError:
        return ref, None
    return "latest", at if at.tzinfo else at.replace(tzinfo=UTC)


def open_repository(step: PlannedStep, run: Any) -> tuple[Any, str]:
    from dr_orchestrator.app.locations import data_class_url
    from dr_orchestrator.repository.repo import Repository
    from dr_orchestrator.storage.registry import open_backend

    site = run.site_for(step.service)
    if site is None:
        raise BadInput(f"no site to restore {step.service!r} at", "set the service's recovery_site")
    data_class = str(spec_get(step.spec, "data_class"))
    url = data_class_url(run.runbook, site, data_class)
    options = {k: resolve_value(v, run) for k, v in
               (run.runbook.sites[site].storage_options or {}).items()}
    password = run.repository_password(data_class) if run.repository_password else None
    if password is None:
        password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise BadInput(f"no password for the repository of data class {data_class!r}",
                       f"export {PASSWORD_ENV}=… before running dro")
    run.redactor.add(password)
    return Repository.open(open_backend(url, options), password), url


class RestoreHandler(BaseHandler):
    kind = "restore"

    def describe(self, step: PlannedStep, run: Any) -> str:
        target = spec_get(step.spec, "target")
        host = spec_get(step.spec, "host") or run.rebuild_host or "local"
        site = run.site_for(step.service)
        return (f"restore {spec_get(step.spec, 'data_class')} snapshot "
                f"{spec_get(step.spec, 'snapshot', 'latest')} from site {site} -> {host}:{target}")

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        repo, url = open_repository(step, ctx.run)
        try:
            ref, at = parse_ref(str(spec_get(step.spec, "snapshot", "latest") or "latest"))
            snap = repo.find_snapshot(ref, at)
            ctx.output(f"snapshot {snap.short_id} of {snap.time.isoformat()} from {url}")
            target = resolve_value(spec_get(step.spec, "target"), ctx.run)
            if is_dsn(target):
                detail = self._to_database(repo, snap, target, step, ctx)
            else:
                detail = self._to_path(repo, snap, target, step, ctx)
        finally:
            with contextlib.suppress(Exception):
                repo.close()
        age = max(ctx.run.started_wall - snap.time.timestamp(), 0.0)
        return StepOutput({"snapshot": snap.id, "snapshot_time": snap.time.isoformat(),
                           "snapshot_age_s": round(age, 3),
                           "data_class": spec_get(step.spec, "data_class"), **detail})

    def _to_database(self, repo: Any, snap: Any, dsn: str, step: PlannedStep,
                     ctx: StepContext) -> dict[str, Any]:
        from dr_orchestrator.sources.postgres import RestoreOptions, restore_from_repository

        streams = [name for name in snap.streams if name.endswith(".dump")]
        wanted = spec_get(step.spec, "source")
        if wanted:
            streams = [n for n in streams if n.startswith(f"{wanted}/")] or streams
        if len(streams) != 1:
            raise BadInput(f"snapshot {snap.short_id} holds {len(streams)} database dumps "
                           f"({', '.join(streams) or 'none'})", "name one with `source:`")
        size = restore_from_repository(repo, snap, streams[0], dsn, RestoreOptions(clean=True))
        ctx.output(f"restored {streams[0]} ({size} bytes) into the database")
        return {"stream": streams[0], "bytes": size}

    def _to_path(self, repo: Any, snap: Any, target: str, step: PlannedStep,
                 ctx: StepContext) -> dict[str, Any]:
        includes = tuple(spec_get(step.spec, "includes", ()) or ())
        ref = spec_get(step.spec, "host") or ctx.host_override
        runner = ctx.run.runner(str(ref), step.service) if ref else None
        if runner is None or runner.spec.local:
            os.makedirs(target, exist_ok=True)
            report = repo.restore(snap, target, includes=includes)
            return {"target": target, "files": getattr(report, "files", None)}
        tmp = tempfile.mkdtemp(prefix="dro-restore-")
        try:
            report = repo.restore(snap, tmp, includes=includes)
            files = upload_tree(runner, tmp, target, ctx)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {"target": f"{runner.spec.display}:{target}", "files": files,
                "restored": getattr(report, "files", None)}


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
