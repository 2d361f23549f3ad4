"""Use cases: back up a runbook data class (all its sources, one snapshot) and restore it.

The repository of data class C at site S is `<S.storage>/<C>/` (app/locations.py); every
snapshot of the class is tagged with C. A data class with `immutable_for` gets snapshots
retained (object-locked where the backend supports it) until now + that duration.

Restore targets, as a RestoreStep's `target:` is read:
- a PostgreSQL DSN (URI or key=value; usually an env:/file: reference, resolved by the
  caller) → every selected postgres dump goes through pg_restore into it (several
  databases: each into the same-named database on the target server);
- a file path, when the selection is a single SQLite database → written there atomically;
- otherwise a directory: the selected sources are restored under it as files (paths at
  their original absolute path below it, streams at their snapshot path, e.g.
  `<dir>/postgres/app.dump`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dr_orchestrator import sources
from dr_orchestrator.app.locations import data_class_url, retain_until
from dr_orchestrator.errors import BadInput, ObjectNotFound
from dr_orchestrator.repository.progress import Progress
from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.repository.snapshot import Snapshot, select
from dr_orchestrator.runbook.models import DataClass, Runbook
from dr_orchestrator.sources import postgres, sqlite
from dr_orchestrator.sources.pgconn import parse_dsn
from dr_orchestrator.storage.registry import open_backend


@dataclass
class RestoredEntry:
    source: str
    kind: str
    path: str  # inside the snapshot
    target: str  # where it went (a DSN is shown as host:port/db, never with a password)
    bytes: int | None = None


@dataclass
class DataClassRestore:
    data_class: str
    snapshot: str
    entries: list[RestoredEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _data_class(runbook: Runbook, name: str) -> DataClass:
    try:
        return runbook.data_classes[name]
    except KeyError:
        known = ", ".join(sorted(runbook.data_classes)) or "none"
        raise BadInput(f"unknown data class {name!r}", f"data classes in this runbook: {known}") from None


def repository_url(runbook: Runbook, data_class: str, site: str | None = None) -> tuple[str, dict[str, str]]:
    """URL and backend options of the class's repository at `site` (default: its source site)."""
    dc = _data_class(runbook, data_class)
    site_name = site or dc.source_site
    url = _anchor(data_class_url(runbook, site_name, data_class), runbook.base_dir)
    return url, dict(runbook.sites[site_name].storage_options)


def _anchor(url: str, base_dir: Path) -> str:
    """A relative local location (`file://./repos`, `repos`) starts at the runbook's directory."""
    if url.startswith("file://"):
        path = url[len("file://"):]
        return url if path.startswith("/") else f"file://{os.path.normpath(base_dir / path)}"
    if "://" not in url and not url.startswith("/"):
        return os.path.normpath(base_dir / url)
    return url


def open_repository(runbook: Runbook, data_class: str, password: str, *, site: str | None = None,
                    create: bool = False) -> Repository:
    """Open the class's repository; with `create`, initialise it on first use."""
    url, options = repository_url(runbook, data_class, site)
    backend = open_backend(url, options)
    if create:
        try:
            backend.stat("config")
        except ObjectNotFound:
            return Repository.init(backend, password)
    return Repository.open(backend, password)


def backup_data_class(runbook: Runbook, data_class: str, password: str, *, site: str | None = None,
                      host: str | None = None, progress: Progress | None = None,
                      create: bool = True, spool_dir: str | None = None) -> Snapshot:
    """Back up every source of `data_class` into one snapshot tagged with its name.

    Any failing source (pg_dump error, command exit code, missing file) aborts the whole
    snapshot: a data class is restored as a unit, so it is committed as one."""
    dc = _data_class(runbook, data_class)
    inputs = sources.build(dc.sources, base_dir=runbook.base_dir, site=runbook.sites.get(dc.source_site),
                           spool_dir=spool_dir)
    repo = open_repository(runbook, data_class, password, site=site, create=create)
    try:
        lock = retain_until(repo.backend, dc.immutable_for, datetime.now(UTC))
        return repo.backup(inputs.paths, excludes=inputs.excludes, tags=[data_class], host=host,
                           streams=inputs.streams, progress=progress, retain_until=lock)
    finally:
        repo.close()


def pick_snapshot(repo: Repository, data_class: str, ref: str = "latest") -> Snapshot:
    """`latest`, a snapshot id (prefix), or an ISO time (the newest snapshot at or before it)."""
    tagged = [s for s in repo.snapshots() if data_class in s.tags]
    at = _parse_time(ref)
    if at is not None:
        return select(tagged, "latest", at)
    return select(tagged, ref)


def _parse_time(ref: str) -> datetime | None:
    if ref == "latest" or len(ref) < 10 or ref[4:5] != "-":
        return None
    try:
        t = datetime.fromisoformat(ref.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def is_dsn(target: str) -> bool:
    t = target.strip()
    return t.startswith(("postgresql://", "postgres://")) or ("=" in t and os.sep not in t.split("=", 1)[0])


def restore_data_class(runbook: Runbook, data_class: str, target: str, password: str, *,
                       snapshot: str = "latest", source: str | None = None, site: str | None = None,
                       clean: bool = False, jobs: int = 1,
                       progress: Progress | None = None) -> DataClassRestore:
    """Restore `data_class` (or only its source named `source`) from `snapshot` into `target`."""
    dc = _data_class(runbook, data_class)
    selected = sources.entries(dc.sources, runbook.base_dir)
    if source is not None:
        selected = [e for e in selected if e.source == source]
        if not selected:
            names = ", ".join(sorted({e.source for e in sources.entries(dc.sources, runbook.base_dir)}))
            raise BadInput(f"data class {data_class!r} has no source named {source!r}", f"sources: {names}")
    repo = open_repository(runbook, data_class, password, site=site)
    try:
        snap = pick_snapshot(repo, data_class, snapshot)
        report = DataClassRestore(data_class, snap.id)
        if is_dsn(target):
            _restore_postgres(repo, snap, selected, target, clean, jobs, report)
        elif (len(selected) == 1 and selected[0].kind == "sqlite" and not Path(target).is_dir()
              and not target.endswith("/")):
            e = selected[0]
            size = sqlite.restore_from_repository(repo, snap, e.path, target)
            report.entries.append(RestoredEntry(e.source, e.kind, e.path, target, size))
        else:
            _restore_files(repo, snap, selected, target, progress, report)
        return report
    finally:
        repo.close()


def _restore_postgres(repo: Repository, snap: Snapshot, selected: list[sources.Entry], target: str,
                      clean: bool, jobs: int, report: DataClassRestore) -> None:
    dbs = [e for e in selected if e.kind == "postgres"]
    others = [e.source for e in selected if e.kind != "postgres"]
    if not dbs or others:
        raise BadInput("a PostgreSQL DSN target can only receive postgres sources",
                       f"restore {', '.join(others) or 'the other sources'} to a directory, "
                       "or pick the postgres source with `source:`")
    info = parse_dsn(target)
    opts = postgres.RestoreOptions(clean=clean, jobs=jobs)
    for e in dbs:
        dsn = target
        if len(dbs) > 1 or not info.database:
            # Several databases: each goes to the same-named database on the target server.
            dsn = info.with_database(e.database or "").conninfo()
            if info.password:
                dsn += f" password={_kv_quote(info.password)}"
        size = postgres.restore_from_repository(repo, snap, e.path, dsn, opts)
        shown = parse_dsn(dsn).display()
        report.entries.append(RestoredEntry(e.source, e.kind, e.path, shown, size))


def _kv_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _restore_files(repo: Repository, snap: Snapshot, selected: list[sources.Entry], target: str,
                   progress: Progress | None, report: DataClassRestore) -> None:
    includes = [e.path.lstrip("/") if e.kind == "paths" else e.path for e in selected]
    repo.restore(snap, target, includes=includes, progress=progress)
    for e in selected:
        where = os.path.join(target, e.path.lstrip("/"))
        report.entries.append(RestoredEntry(e.source, e.kind, e.path, where, None))
