"""What gets backed up: turning a runbook data class's `sources` into repository inputs.

`paths` sources become the archiver's paths and excludes; `postgres`, `sqlite` and
`command` sources become `StreamSource`s (a stream stored as a file in the snapshot).
`entries()` says where each source's data lives inside a snapshot, which is what restore
needs. Sources run on this machine: a `host:` that is not a `local: true` host of the
data class's site is refused for now (remote sources need a streaming remote runner).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dr_orchestrator.errors import BadInput
from dr_orchestrator.repository.streams import StreamSource
from dr_orchestrator.runbook.models import (
    CommandSource,
    PathsSource,
    PostgresSource,
    Site,
    Source,
    SqliteSource,
)
from dr_orchestrator.runbook.secrets import SecretRef
from dr_orchestrator.sources import command, postgres, sqlite
from dr_orchestrator.sources.pgconn import parse_dsn


@dataclass
class BackupInputs:
    """Everything `Repository.backup` needs for one data class."""

    paths: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    streams: list[StreamSource] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    """One source's data inside a snapshot: a stream file, or a backed-up path."""

    source: str  # the source's name (or its default label)
    kind: str  # paths | postgres | sqlite | command
    path: str  # path inside the snapshot (absolute for `paths`, relative for streams)
    database: str | None = None  # postgres only


def label(spec: Source) -> str:
    """A source's name, or a default: the kind plus what it points at."""
    if spec.name:
        return spec.name
    if isinstance(spec, PathsSource):
        return f"paths:{spec.path}"
    if isinstance(spec, SqliteSource):
        return f"sqlite:{Path(spec.path).name}"
    if isinstance(spec, PostgresSource):
        return "postgres"
    return spec.type


def resolve_dsn(dsn: SecretRef | str, base_dir: Path | None) -> str:
    return dsn.resolve(base_dir) if isinstance(dsn, SecretRef) else dsn


def _abspath(path: str, base_dir: Path | None) -> str:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (base_dir or Path.cwd()) / p
    return os.path.normpath(p)


def _check_host(spec: Source, site: Site | None) -> None:
    if spec.host is None:
        return
    host = site.hosts.get(spec.host) if site is not None else None
    if host is not None and host.local:
        return
    raise BadInput(f"source {label(spec)!r} runs on host {spec.host!r}: remote sources are not supported yet",
                   "run dro on that host (or mark the host `local: true`), or reach the data over the "
                   "network (a PostgreSQL DSN pointing at the host needs no `host:`)")


def _databases(spec: PostgresSource, base_dir: Path | None) -> list[str]:
    if spec.databases:
        return list(spec.databases)
    db = parse_dsn(resolve_dsn(spec.dsn, base_dir)).database
    if not db:
        raise BadInput(f"postgres source {label(spec)!r} names no database",
                       "put the database in the DSN (…/dbname) or list it under `databases:`")
    return [db]


def entries(sources: Sequence[Source], base_dir: Path | None = None) -> list[Entry]:
    """Where every source of a data class lives inside its snapshots (no I/O but secrets)."""
    out: list[Entry] = []
    for spec in sources:
        name = label(spec)
        if isinstance(spec, PathsSource):
            out.append(Entry(name, "paths", _abspath(spec.path, base_dir)))
        elif isinstance(spec, PostgresSource):
            for db in _databases(spec, base_dir):
                out.append(Entry(name, "postgres", postgres.stream_name(db, spec.name), db))
        elif isinstance(spec, SqliteSource):
            out.append(Entry(name, "sqlite", sqlite.stream_name(spec.path, spec.name)))
        elif isinstance(spec, CommandSource):
            out.append(Entry(name, "command", command.stream_name(spec.name)))
    return out


def build(sources: Sequence[Source], *, base_dir: Path | None = None, site: Site | None = None,
          spool_dir: str | None = None) -> BackupInputs:
    """Repository inputs for a data class's sources. Nothing runs until the backup opens a stream."""
    inputs = BackupInputs()
    seen: dict[str, str] = {}
    for spec in sources:
        _check_host(spec, site)
        streams: list[StreamSource] = []
        if isinstance(spec, PathsSource):
            inputs.paths.append(_abspath(spec.path, base_dir))
            inputs.excludes.extend(spec.exclude)
        elif isinstance(spec, PostgresSource):
            dsn = resolve_dsn(spec.dsn, base_dir)
            streams = [postgres.dump_source(dsn, db, source_name=spec.name)
                       for db in _databases(spec, base_dir)]
        elif isinstance(spec, SqliteSource):
            streams = [sqlite.backup_source(_abspath(spec.path, base_dir), source_name=spec.name,
                                            spool_dir=spool_dir)]
        elif isinstance(spec, CommandSource):
            streams = [command.backup_source(spec.name, spec.command, cwd=str(base_dir) if base_dir else None)]
        for s in streams:
            if s.name in seen:
                raise BadInput(f"sources {seen[s.name]!r} and {label(spec)!r} would both be stored as {s.name}",
                               "give one of them a distinct `name:`")
            seen[s.name] = label(spec)
        inputs.streams.extend(streams)
    return inputs


__all__ = ["BackupInputs", "Entry", "build", "entries", "label", "resolve_dsn"]
